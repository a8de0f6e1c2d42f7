package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestBufferedConnWrites: packets written to the broker arrive whole and
// in order, the last ones on close; once the broker is gone, writing
// fails and the connection is closed, so that paho reconnects.
func TestBufferedConnWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(peer)
			return
		}
		peer <- c
	}()
	conn, err := openBuffered(&url.URL{Scheme: "tcp", Host: ln.Addr().String()}, *paho.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	broker := <-peer
	var want bytes.Buffer
	for i := range 5000 { // some go out when 32 KiB wait, the rest on close
		p := []byte(fmt.Sprintf("packet %d;", i))
		want.Write(p)
		if n, err := conn.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(broker)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the broker read %d bytes (%v); want the %d written, in order", len(got), err, want.Len())
	}
	broker.Close()

	go func() {
		if c, err := ln.Accept(); err == nil {
			peer <- c
		}
	}()
	conn, err = openBuffered(&url.URL{Scheme: "tcp", Host: ln.Addr().String()}, *paho.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	(<-peer).Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := conn.Write(make([]byte, 64<<10)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writing to a broker that closed its end still succeeds")
		}
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("after a write failed, reading the connection succeeds; want it closed, for paho to reconnect")
	}
}
