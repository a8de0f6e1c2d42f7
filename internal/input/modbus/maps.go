package modbus

import "github.com/sensorhub/sensorhub/internal/config"

// Maps are the built-in register maps by name. Field names are those of
// the built-in power meter kind (centrale): U1..U3 in V, I1..I3 in A, P
// in kW, PF, E in kWh (a counter), and beside them P1..P3, F,
// E_export and E_total.
var Maps = map[string][]config.Register{
	"sdm630": sdm630,
	"umg604": umg604,
}

// f32 is a big-endian float32 (high word first), the encoding of both
// meters.
func f32(table, field string, addr int, unit string, scale float64, counter bool) config.Register {
	return config.Register{Field: field, Table: table, Address: addr, Type: "float32", Unit: unit, Scale: scale, Counter: counter}
}

// sdm630 is Eastron's SDM630 (Modbus protocol, input registers 3xxxx,
// two registers per IEEE 754 float, high word first): "Eastron SDM630
// Modbus Protocol", Input Register Parameter Numbers. Protocol address =
// parameter register - 30001.
var sdm630 = []config.Register{
	f32("input", "U1", 0x0000, "V", 0, false),
	f32("input", "U2", 0x0002, "V", 0, false),
	f32("input", "U3", 0x0004, "V", 0, false),
	f32("input", "I1", 0x0006, "A", 0, false),
	f32("input", "I2", 0x0008, "A", 0, false),
	f32("input", "I3", 0x000A, "A", 0, false),
	f32("input", "P1", 0x000C, "kW", 0.001, false),
	f32("input", "P2", 0x000E, "kW", 0.001, false),
	f32("input", "P3", 0x0010, "kW", 0.001, false),
	f32("input", "P", 0x0034, "kW", 0.001, false),
	f32("input", "PF", 0x003E, "", 0, false),
	f32("input", "F", 0x0046, "Hz", 0, false),
	f32("input", "E", 0x0048, "kWh", 0, true),
	f32("input", "E_export", 0x004A, "kWh", 0, true),
	f32("input", "E_total", 0x0156, "kWh", 0, true),
}

// umg604 is Janitza's UMG 604 (holding registers, float32 high word
// first), from its Modbus address list's block of frequently used
// values from 19000. Energies are in Wh there, scaled to kWh; their
// addresses (19060, 19068, 19076) follow the list's pattern and are not
// confirmed by another reader of the meter (README, Built-in maps).
var umg604 = []config.Register{
	f32("holding", "U1", 19000, "V", 0, false),
	f32("holding", "U2", 19002, "V", 0, false),
	f32("holding", "U3", 19004, "V", 0, false),
	f32("holding", "I1", 19012, "A", 0, false),
	f32("holding", "I2", 19014, "A", 0, false),
	f32("holding", "I3", 19016, "A", 0, false),
	f32("holding", "P1", 19020, "kW", 0.001, false),
	f32("holding", "P2", 19022, "kW", 0.001, false),
	f32("holding", "P3", 19024, "kW", 0.001, false),
	f32("holding", "P", 19026, "kW", 0.001, false),
	f32("holding", "F", 19050, "Hz", 0, false),
	f32("holding", "E", 19068, "kWh", 0.001, true),
	f32("holding", "E_export", 19076, "kWh", 0.001, true),
	f32("holding", "E_total", 19060, "kWh", 0.001, true),
}
