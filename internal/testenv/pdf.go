package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var (
	pdfPageCount = regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`)
	pdfA4        = regexp.MustCompile(`(?m)^Page size:\s+595.28 x 841.89 pts \(A4\)`)
)

// PDFPages is the text of a PDF of A4 pages, page by page, as poppler's
// pdftotext lays it out (-layout); pdfinfo gives the page count. A PDF
// that is not, or not on A4 pages, fails the test.
func PDFPages(t testing.TB, pdf []byte) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("pdfinfo", path).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, info)
	}
	m := pdfPageCount.FindSubmatch(info)
	if m == nil || !pdfA4.Match(info) {
		t.Fatalf("pdfinfo gives no page count or pages other than A4:\n%s", info)
	}
	n, _ := strconv.Atoi(string(m[1]))
	pages := make([]string, n)
	for i := range pages {
		out, err := exec.Command("pdftotext", "-layout", "-f", strconv.Itoa(i+1), "-l", strconv.Itoa(i+1), path, "-").CombinedOutput()
		if err != nil {
			t.Fatalf("pdftotext page %d: %v\n%s", i+1, err, out)
		}
		pages[i] = string(out)
	}
	return pages
}
