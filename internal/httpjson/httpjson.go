// Package httpjson writes JSON answers and errors the same way for every
// sensorhub endpoint.
package httpjson

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Write answers v as JSON with status code. An answer that cannot be
// encoded (a value JSON cannot carry) is a 500 that says so, never an empty
// success.
func Write(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		enc.Encode(map[string]string{"error": "internal error: the answer holds a value JSON cannot carry"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// Error answers {"error": msg} with status code.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}
