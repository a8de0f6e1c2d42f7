package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"

	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/store"
)

const deviceUsage = `usage: sensorhub device rm --customer C --sensor KIND --device ID [--config FILE] [--data DIR] [--yes]

Removes a device and everything stored of it: readings, aggregates, alerts
and their notifications. It asks to type the device's id again, unless
--yes. sensorhub may be running: a device that sends again afterwards is a
new one. Over the API: DELETE /api/v1/devices?customer=&sensor=&device=&confirm=ID
(admins only).

sensorhub device invalid add|list|rm ... marks intervals of a device's
readings invalid (sensorhub device invalid for help).
`

// cmdDevice manages devices in the store.
func cmdDevice(args []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, deviceUsage)
		return flag.ErrHelp
	}
	if args[0] == "invalid" {
		return cmdInvalid(args[1:], stdout, stderr)
	}
	if args[0] != "rm" {
		fmt.Fprint(stderr, deviceUsage)
		return fmt.Errorf("unknown device command %q", args[0])
	}
	fs := newFlags("device rm", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deviceUsage) }
	cfgPath := fs.String("config", "", "configuration file")
	data := fs.String("data", "", "data directory (overrides data_dir)")
	var k store.DeviceKey
	fs.StringVar(&k.Customer, "customer", "", "the device's customer (required)")
	fs.StringVar(&k.Sensor, "sensor", "", "the device's sensor kind (required)")
	fs.StringVar(&k.Device, "device", "", "the device's id, its idDevice (required)")
	yes := fs.Bool("yes", false, "do not ask to confirm")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if k.Customer == "" || k.Sensor == "" || k.Device == "" {
		return errors.New("device rm: --customer, --sensor and --device name the device")
	}
	cfg, err := dataConfig(*cfgPath, *data)
	if err != nil {
		return err
	}
	log := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	ctx := context.Background()
	st, err := openExisting(ctx, cfg, "device rm")
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Latest(ctx, k); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("device rm: no device %s/%s/%s", k.Customer, k.Sensor, k.Device)
	}
	if !*yes {
		fmt.Fprintf(stdout, "This deletes device %s/%s/%s and all its data. Type its id (%s) to confirm: ", k.Customer, k.Sensor, k.Device, k.Device)
		line, _ := bufio.NewReader(in).ReadString('\n')
		if strings.TrimSpace(line) != k.Device {
			return errors.New("device rm: not confirmed; nothing removed")
		}
	}
	n, err := st.RemoveDevice(ctx, k)
	if err != nil {
		return fmt.Errorf("device rm: %w", err)
	}
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	log.Warn("device removed with all its data", "customer", k.Customer, "sensor", k.Sensor, "device", k.Device, "readings", n, "by", who, "via", "sensorhub device rm")
	fmt.Fprintf(stdout, "removed %s/%s/%s and its %d readings\n", k.Customer, k.Sensor, k.Device, n)
	return nil
}
