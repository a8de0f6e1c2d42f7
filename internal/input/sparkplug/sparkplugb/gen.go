// Package sparkplugb is the Sparkplug B payload,
// org.eclipse.tahu.protobuf.Payload, generated from Eclipse Tahu's
// sparkplug_b.proto with protoc 3.21.12 and protoc-gen-go v1.36.12
// (the version of google.golang.org/protobuf in go.mod).
package sparkplugb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Msparkplug_b.proto=github.com/sensorhub/sensorhub/internal/input/sparkplug/sparkplugb sparkplug_b.proto
