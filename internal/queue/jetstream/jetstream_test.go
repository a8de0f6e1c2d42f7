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
