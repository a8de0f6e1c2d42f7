package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errDecodedTooLarge is a body that decodes to more than its limit.
var errDecodedTooLarge = errors.New("decodes to more than the limit")

// unsupportedEncoding is a Content-Encoding sensorhub does not decode.
type unsupportedEncoding string

func (e unsupportedEncoding) Error() string {
	return fmt.Sprintf("Content-Encoding %q is not supported: send the body as it is, or with gzip or deflate", string(e))
}

// contentCodings are the codings of a request's Content-Encoding headers,
// in the order they were applied; identity is none.
func contentCodings(headers []string) []string {
	var out []string
	for _, h := range headers {
		for c := range strings.SplitSeq(h, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				out = append(out, c)
			}
		}
	}
	return out
}

// decodeBody undoes the codings of a request body (gzip, and deflate:
// zlib-wrapped as HTTP says, or raw as some senders do), last applied
// first, into at most limit bytes. It fails with an unsupportedEncoding,
// errDecodedTooLarge, or the error of a body that does not decode.
func decodeBody(body []byte, codings []string, limit int64) ([]byte, error) {
	for _, c := range codings {
		if c != "gzip" && c != "x-gzip" && c != "deflate" {
			return nil, unsupportedEncoding(c)
		}
	}
	for i := len(codings) - 1; i >= 0; i-- {
		var r io.ReadCloser
		var err error
		switch codings[i] {
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(bytes.NewReader(body))
		case "deflate":
			if zlibHeader(body) {
				r, err = zlib.NewReader(bytes.NewReader(body))
			} else {
				r = flate.NewReader(bytes.NewReader(body))
			}
		}
		if err != nil {
			return nil, err
		}
		decoded, err := io.ReadAll(io.LimitReader(r, limit+1))
		r.Close()
		if err != nil {
			return nil, err
		}
		if int64(len(decoded)) > limit {
			return nil, errDecodedTooLarge
		}
		body = decoded
	}
	return body, nil
}

// zlibHeader tells a zlib stream (RFC 1950: deflate, and a header whose
// two bytes are a multiple of 31) from raw deflate.
func zlibHeader(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}
