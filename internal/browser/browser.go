// Package browser starts headless Chromium for the page tests and the
// screenshot command.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Path finds Chromium: $SENSORHUB_CHROMIUM, or chromium on the PATH.
func Path() (string, error) {
	if p := os.Getenv("SENSORHUB_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: install Debian's chromium package (scripts/test.sh does) or set SENSORHUB_CHROMIUM")
}

// Start starts a headless Chromium with a fresh profile, kept off the
// network but for the pages it is sent to, and returns a context for
// chromedp actions; cancel stops the browser.
func Start(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	path, err := Path()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "sensorhub-chromium")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start Chromium %s: %w", path, err)
	}
	return bctx, func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(dir)
	}, nil
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](ctx context.Context, js string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// Screenshot captures the whole page as PNG.
func Screenshot(ctx context.Context) ([]byte, error) {
	return chromedp.Run(ctx, chromedp.FullScreenshot(100))
}

// PrintPDF prints the page as Chromium's print to PDF does, on the paper
// size the page's CSS asks for (@page), A4 otherwise.
func PrintPDF(ctx context.Context) ([]byte, error) {
	prefer := true
	res, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{PaperWidth: 8.27, PaperHeight: 11.69, PreferCSSPageSize: &prefer})
	return res.Data, err
}

// Navigate loads url in the tab.
func Navigate(ctx context.Context, url string) error {
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// violationsJS collects, in every page the tab loads from now on, what
// its Content-Security-Policy refused.
const violationsJS = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});`

// WatchCSP makes every page loaded afterwards record the resources and
// scripts its Content-Security-Policy refuses; CSPViolations reads them.
func WatchCSP(ctx context.Context) error {
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: violationsJS})
	return err
}

// CSPViolations are what the current page's policy refused so far.
func CSPViolations(ctx context.Context) ([]string, error) {
	return Eval[[]string](ctx, `window.__cspViolations || []`)
}
