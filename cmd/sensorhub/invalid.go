package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/store"
)

const invalidUsage = `usage: sensorhub device invalid add --customer C --sensor KIND --device ID --from TIME --to TIME --reason TEXT
       sensorhub device invalid list --customer C [--sensor KIND] [--device ID]
       sensorhub device invalid rm --customer C --id N
       (each with [--config FILE] [--data DIR])

Marks an interval of a device's readings invalid (a meter on a test bench,
swapped, a replay gone wrong): the counter increase of every interval
between two readings that overlaps it is left out of reports' kWh and of
agg=increase, and reports list it with its reason. TIME is RFC 3339
(2025-11-05T10:00:00+01:00). list prints a customer's marks, rm removes one
by its id. Over the API: POST, GET and DELETE /api/v1/devices/intervals
(admins only for POST and DELETE).
`

// cmdInvalid manages the intervals marked invalid.
func cmdInvalid(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, invalidUsage)
		return flag.ErrHelp
	}
	sub := args[0]
	if sub != "add" && sub != "list" && sub != "rm" {
		fmt.Fprint(stderr, invalidUsage)
		return fmt.Errorf("unknown device invalid command %q", sub)
	}
	name := "device invalid " + sub
	fs := newFlags(name, stderr)
	fs.Usage = func() { fmt.Fprint(stderr, invalidUsage) }
	cfgPath := fs.String("config", "", "configuration file")
	data := fs.String("data", "", "data directory (overrides data_dir)")
	var iv store.InvalidInterval
	fs.StringVar(&iv.Customer, "customer", "", "the device's customer (required)")
	fs.StringVar(&iv.Sensor, "sensor", "", "the device's sensor kind")
	fs.StringVar(&iv.Device, "device", "", "the device's id, its idDevice")
	from := fs.String("from", "", "start of the invalid interval, RFC 3339")
	to := fs.String("to", "", "end of the invalid interval, RFC 3339")
	fs.StringVar(&iv.Reason, "reason", "", "why the readings are invalid")
	id := fs.Int64("id", 0, "the interval to remove (device invalid list shows it)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if iv.Customer == "" {
		return errors.New(name + ": --customer is required")
	}
	if sub == "add" {
		if iv.Sensor == "" || iv.Device == "" || *from == "" || *to == "" || iv.Reason == "" {
			return errors.New(name + ": --sensor, --device, --from, --to and --reason are required")
		}
		var err error
		if iv.From, err = time.Parse(time.RFC3339, *from); err != nil {
			return fmt.Errorf("%s: --from %q is not RFC 3339 (2025-11-05T10:00:00+01:00)", name, *from)
		}
		if iv.To, err = time.Parse(time.RFC3339, *to); err != nil {
			return fmt.Errorf("%s: --to %q is not RFC 3339 (2025-11-05T11:00:00+01:00)", name, *to)
		}
	}
	if sub == "rm" && *id <= 0 {
		return errors.New(name + ": --id names the interval to remove")
	}
	cfg, err := dataConfig(*cfgPath, *data)
	if err != nil {
		return err
	}
	log := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	ctx := context.Background()
	st, err := openExisting(ctx, cfg, name)
	if err != nil {
		return err
	}
	defer st.Close()
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	switch sub {
	case "add":
		iv.MarkedBy, iv.MarkedAt = who, time.Now()
		k := iv.DeviceKey
		iv, err = st.MarkInvalid(ctx, iv)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: no device %s/%s/%s", name, k.Customer, k.Sensor, k.Device)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		log.Warn("interval marked invalid", "customer", iv.Customer, "sensor", iv.Sensor, "device", iv.Device,
			"from", iv.From, "to", iv.To, "reason", iv.Reason, "by", who, "id", iv.ID, "via", "sensorhub device invalid add")
		fmt.Fprintf(stdout, "marked %s/%s/%s invalid from %s to %s (id %d)\n", iv.Customer, iv.Sensor, iv.Device,
			iv.From.Format(time.RFC3339), iv.To.Format(time.RFC3339), iv.ID)
	case "list":
		ivs, err := st.InvalidIntervals(ctx, store.InvalidQuery{Customer: iv.Customer, Sensor: iv.Sensor, Device: iv.Device})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSENSOR\tDEVICE\tFROM\tTO\tREASON\tMARKED BY\tMARKED AT")
		for _, x := range ivs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Sensor, x.Device, x.From.In(cfg.Location()).Format(time.RFC3339),
				x.To.In(cfg.Location()).Format(time.RFC3339), x.Reason, x.MarkedBy, x.MarkedAt.In(cfg.Location()).Format(time.RFC3339))
		}
		return tw.Flush()
	case "rm":
		if err := st.RemoveInvalid(ctx, iv.Customer, *id); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		log.Warn("invalid interval removed", "customer", iv.Customer, "id", *id, "by", who, "via", "sensorhub device invalid rm")
		fmt.Fprintf(stdout, "removed invalid interval %s of %s\n", strconv.FormatInt(*id, 10), iv.Customer)
	}
	return nil
}
