package testenv

import (
	"os/exec"
	"testing"
)

// PyModbus is the Python interpreter that has Debian's python3-pymodbus,
// the independent Modbus TCP server of the tests (scripts/test.sh
// installs it).
func PyModbus(t testing.TB) string {
	t.Helper()
	Needs(t, "python3-pymodbus")
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import pymodbus").CombinedOutput(); err != nil {
		t.Fatalf("python3-pymodbus is needed (apt-get install python3-pymodbus; scripts/test.sh installs it): %v: %s", err, out)
	}
	return python
}
