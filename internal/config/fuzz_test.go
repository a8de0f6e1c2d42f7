package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds configuration files to the loader. Whatever the input, it
// neither panics nor hangs; a refused file gets an error that says where
// (a line, or a setting's name); an accepted one prints as a file that is
// accepted again, as 'sensorhub config' promises.
func FuzzLoad(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/*.yaml", "../../examples/*.yaml", "../../deploy/compose/*.yaml"} {
		paths, _ := filepath.Glob(pattern)
		seeds = append(seeds, paths...)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	printed, err := Default().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(printed)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		file, err := Parse("fuzz.yaml", data, cfg)
		if err == nil {
			err = cfg.Validate(file)
		}
		if err != nil {
			var fe *FieldError
			msg := err.Error()
			if !errors.As(err, &fe) && !strings.Contains(msg, "line ") && !strings.Contains(msg, "fuzz.yaml") {
				t.Fatalf("an error that says neither where nor which setting: %v", err)
			}
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatalf("an accepted configuration does not print: %v", err)
		}
		again := Default()
		file, err = Parse("printed.yaml", out, again)
		if err == nil {
			err = again.Validate(file)
		}
		if err != nil {
			t.Fatalf("the printed configuration is refused: %v\n%s", err, out)
		}
	})
}
