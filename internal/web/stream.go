package web

import (
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/reading"

	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Hub fans readings out to the clients of GET /api/v1/stream. Publishing
// never waits for a client: one whose buffer is full is dropped, and its
// browser reconnects, so a slow client cannot slow ingestion.
type Hub struct {
	log     *slog.Logger
	mu      sync.Mutex
	clients map[*streamClient]struct{}
	// Buffer is how many events a client may lag behind before it is
	// dropped.
	Buffer int
	// MaxPerUser bounds the live streams one user (or token) has open at
	// once; 0 is no bound.
	MaxPerUser int

	closed    chan struct{}
	closeOnce sync.Once
}

// Close ends every stream, so that a server shutting down does not wait
// for its live clients; they reconnect to the next one.
func (h *Hub) Close() {
	h.closeOnce.Do(func() { close(h.closed) })
}

type streamClient struct {
	who *auth.Principal
	// owner is whom MaxPerUser counts for: the user or token, or without
	// users the client's address.
	owner                    string
	customer, sensor, device string
	events                   chan []byte
	dropped                  chan struct{}
}

// NewHub returns an empty hub.
func NewHub(log *slog.Logger) *Hub {
	return &Hub{log: log, clients: map[*streamClient]struct{}{}, Buffer: 256, closed: make(chan struct{})}
}

// Clients is how many clients are connected.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Publish hands the readings of a message of the readings stream, each as
// its JSON, to every client whose filter it matches.
func (h *Hub) Publish(data []byte) {
	if h.Clients() == 0 {
		return // nobody to decode it for
	}
	rs, err := reading.UnmarshalReadings(data)
	if err != nil {
		h.log.Warn("live updates: undecodable readings", "err", err)
		return
	}
	for i := range rs {
		h.publish(&rs[i])
	}
}

// publish sends r to the clients that follow it, as JSON made once for
// all of them.
func (h *Hub) publish(r *reading.Reading) {
	var data []byte
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.who.Sees(r.Customer) || (c.customer != "" && c.customer != r.Customer) || (c.sensor != "" && c.sensor != r.Sensor) || (c.device != "" && c.device != r.Device) {
			continue
		}
		if data == nil {
			var err error
			if data, err = json.Marshal(r); err != nil {
				h.log.Warn("live updates: a reading cannot be encoded", "err", err)
				return
			}
		}
		select {
		case c.events <- data:
		default:
			delete(h.clients, c)
			close(c.dropped)
		}
	}
}

// add adds a client, unless its principal already has MaxPerUser.
func (h *Hub) add(c *streamClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.MaxPerUser > 0 {
		n := 0
		for o := range h.clients {
			if o.owner == c.owner {
				n++
			}
		}
		if n >= h.MaxPerUser {
			return false
		}
	}
	h.clients[c] = struct{}{}
	return true
}

func (h *Hub) remove(c *streamClient) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// streamOwner is whom a live stream counts for: its user or token, or on a
// server without users, where everyone is the same principal, the client
// address.
func streamOwner(r *http.Request) string {
	if p := principalOf(r); p != auth.Open {
		return p.Name
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return host
}

// heartbeat is how often an idle stream sends a comment, so that proxies
// keep it open and clients notice a dead server.
const heartbeat = 15 * time.Second

// ServeHTTP serves GET /api/v1/stream?customer=&sensor=&device= as
// Server-Sent Events: one "reading" event per new reading.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	q := r.URL.Query()
	c := &streamClient{
		who:      principalOf(r),
		owner:    streamOwner(r),
		customer: q.Get("customer"), sensor: q.Get("sensor"), device: q.Get("device"),
		events: make(chan []byte, h.Buffer), dropped: make(chan struct{}),
	}
	if !h.add(c) {
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%s already has %d live streams open (http.max_streams_per_user)", c.owner, h.MaxPerUser))
		return
	}
	defer h.remove(c)
	rc := http.NewResponseController(w)
	// A stream lasts: the server's read deadline is not for it.
	rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Browsers retry after this many milliseconds when the stream ends.
	fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	recheck := time.NewTicker(time.Second)
	defer recheck.Stop()
	for {
		var err error
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		select {
		case <-r.Context().Done():
			return
		case <-h.closed:
			return
		case <-c.dropped:
			fmt.Fprint(w, "event: dropped\ndata: {\"reason\":\"this client fell behind; reconnect\"}\n\n")
			rc.Flush()
			return
		case data := <-c.events:
			// Write what else is waiting too, and flush once: one write per
			// burst, not per reading, keeps many clients cheap.
			_, err = fmt.Fprintf(w, "event: reading\ndata: %s\n\n", data)
			for more := len(c.events); more > 0 && err == nil; more-- {
				_, err = fmt.Fprintf(w, "event: reading\ndata: %s\n\n", <-c.events)
			}
		case <-recheck.C:
			if !stillAllowed(r) {
				fmt.Fprint(w, "event: ended\ndata: {\"reason\":\"logged out, or access revoked\"}\n\n")
				rc.Flush()
				return
			}
			continue
		case <-tick.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
