package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/queue/queuetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

func opts(t *testing.T) jetstream.Options {
	return jetstream.Options{Prefix: testenv.Unique(t), RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour}
}

func TestEmbedded(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) (queue.Queue, func() queue.Queue) {
		o := opts(t)
		q, err := jetstream.StartEmbedded(context.Background(), t.TempDir(), "127.0.0.1:-1", o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q, func() queue.Queue {
			// A second process reaches the embedded server over TCP.
			q2, err := jetstream.Connect(context.Background(), q.ClientURL(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q2.Close() })
			return q2
		}
	})
}

func TestExternalNATS(t *testing.T) {
	url := testenv.NATSURL(t)
	queuetest.Run(t, func(t *testing.T) (queue.Queue, func() queue.Queue) {
		o := opts(t)
		q, err := jetstream.Connect(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			q.DeleteStreams(context.Background())
			q.Close()
		})
		return q, func() queue.Queue {
			q2, err := jetstream.Connect(context.Background(), url, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q2.Close() })
			return q2
		}
	})
}

func benchQueue(b *testing.B) *jetstream.Queue {
	q, err := jetstream.StartEmbedded(context.Background(), b.TempDir(), "", jetstream.Options{Prefix: "bench", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// BenchmarkPublishOne is the gateway's cost per message when each waits for
// the queue before it is acknowledged.
func BenchmarkPublishOne(b *testing.B) {
	q := benchQueue(b)
	msg := queue.Message{Stream: queue.Raw, Subject: "mqtt", Data: make([]byte, 300)}
	for b.Loop() {
		if err := q.Publish(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishBatch100 publishes 100 messages per call; ns/op is per
// message.
func BenchmarkPublishBatch100(b *testing.B) {
	q := benchQueue(b)
	msgs := make([]queue.Message, 100)
	for i := range msgs {
		msgs[i] = queue.Message{Stream: queue.Raw, Subject: "mqtt", Data: make([]byte, 300)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if err := q.Publish(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
	}
}
