package testenv

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// SMTP is a real SMTP server (go-smtp) inside the test that keeps every
// message it gets.
type SMTP struct {
	Host string
	Port int
	// Refuse makes the next n messages fail with a temporary error (451).
	Refuse atomic.Int32

	mu   sync.Mutex
	msgs []string
	rcpt []string
}

// StartSMTP starts an SMTP server on a free loopback port until the test
// ends.
func StartSMTP(t testing.TB) *SMTP {
	t.Helper()
	s := &SMTP{}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.Host, s.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	return s
}

// Messages returns every message received so far, each decoded by
// DecodeMail.
func (s *SMTP) Messages(t testing.TB) []string {
	t.Helper()
	s.mu.Lock()
	raw := append([]string(nil), s.msgs...)
	s.mu.Unlock()
	out := make([]string, len(raw))
	for i, m := range raw {
		out[i] = DecodeMail(t, m)
	}
	return out
}

// Raw returns every message received so far, as sent.
func (s *SMTP) Raw() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// Recipients returns the RCPT TO addresses received so far.
func (s *SMTP) Recipients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rcpt...)
}

// NewSession is go-smtp's backend interface.
func (s *SMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }

type smtpSession struct{ s *SMTP }

func (x *smtpSession) Reset()        {}
func (x *smtpSession) Logout() error { return nil }
func (x *smtpSession) Mail(string, *smtp.MailOptions) error {
	if x.s.Refuse.Add(-1) >= 0 {
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	return nil
}
func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	x.s.rcpt = append(x.s.rcpt, to)
	x.s.mu.Unlock()
	return nil
}
func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, string(b))
	x.s.mu.Unlock()
	return err
}

// DecodeMail returns the subject, the content types and the decoded text
// of every part of a MIME message.
func DecodeMail(t testing.TB, raw string) string {
	t.Helper()
	var out strings.Builder
	subject := eachPart(t, raw, func(mt string, _ func(string) string, body io.Reader) {
		out.WriteString(mt + "\n")
		if strings.HasPrefix(mt, "multipart/") {
			return
		}
		b, _ := io.ReadAll(body)
		out.Write(b)
		out.WriteString("\n")
	})
	return "Subject: " + subject + "\n" + out.String()
}

// Attachment is a file attached to a message: its content type and its
// decoded bytes.
type Attachment struct {
	Type string
	Body []byte
}

func (a Attachment) String() string { return a.Type }

// MailAttachments returns the parts of a MIME message that have a file
// name, decoded, by file name.
func MailAttachments(t testing.TB, raw string) map[string]Attachment {
	t.Helper()
	out := map[string]Attachment{}
	eachPart(t, raw, func(mt string, header func(string) string, body io.Reader) {
		_, disp, _ := mime.ParseMediaType(header("Content-Disposition"))
		if disp["filename"] == "" {
			return
		}
		if strings.EqualFold(header("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		out[disp["filename"]] = Attachment{Type: mt, Body: b}
	})
	return out
}

// eachPart calls part with every part of a MIME message, a multipart
// before its parts, a quoted-printable body decoded, and returns the
// message's subject.
func eachPart(t testing.TB, raw string, part func(mediaType string, header func(string) string, body io.Reader)) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(header func(string) string, body io.Reader)
	walk = func(header func(string) string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(header("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(header("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		part(mt, header, body)
		if !strings.HasPrefix(mt, "multipart/") {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walk(p.Header.Get, p)
		}
	}
	walk(msg.Header.Get, msg.Body)
	return msg.Header.Get("Subject")
}
