#!/usr/bin/python3
"""An Eastron SDM630 as sensorhub's tests see it: a Modbus TCP server
(pymodbus) serving the meter's input registers, float32 big-endian, whose
values change at every poll.

Each read of the block at input register 0 (L1 voltage, the first request
of a poll) is poll n+1; every value read is a function of n, so that a test
knows exactly what each stored reading must hold:

  U1, U2, U3  230 + 0.5*(n % 20), 231 + ..., 232 + ...   V
  I1, I2, I3  10 + 0.25*(n % 8), 11 + ..., 12 + ...      A
  P1, P2, P3  1000 + n, 2000 + n, 3000 + n               W
  P           6000 + 3*n                                 W
  PF          0.5 + (n % 4) / 8
  F           50 + (n % 2) / 4                           Hz
  E           1000 + 0.5*n        (import, a counter)    kWh
  E_export    10 + 0.25*n         (a counter)            kWh
  E_total     1010 + 0.75*n                              kWh

n is kept in --state, so that a server stopped and started again goes on
where it was, as a meter does.

  sdm630_server.py --port PORT --state FILE
"""
import argparse
import os
import struct

from pymodbus.datastore import (ModbusSequentialDataBlock,
                                ModbusServerContext, ModbusSlaveContext)
from pymodbus.server import StartTcpServer


def words(value):
    """A float32 as two registers, high word first."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


class Meter(ModbusSequentialDataBlock):
    def __init__(self, state):
        super().__init__(0, [0] * 0x200)
        self.state = state
        self.n = int(open(state).read()) if os.path.exists(state) else 0
        self.update()

    def update(self):
        n = self.n
        values = {
            0x00: 230 + 0.5 * (n % 20), 0x02: 231 + 0.5 * (n % 20), 0x04: 232 + 0.5 * (n % 20),
            0x06: 10 + 0.25 * (n % 8), 0x08: 11 + 0.25 * (n % 8), 0x0A: 12 + 0.25 * (n % 8),
            0x0C: 1000 + n, 0x0E: 2000 + n, 0x10: 3000 + n,
            0x34: 6000 + 3 * n, 0x3E: 0.5 + (n % 4) / 8, 0x46: 50 + (n % 2) / 4,
            0x48: 1000 + 0.5 * n, 0x4A: 10 + 0.25 * n, 0x156: 1010 + 0.75 * n,
        }
        for addr, v in values.items():
            self.setValues(addr, words(v))

    def getValues(self, address, count=1):
        if address == 0:
            self.n += 1
            with open(self.state + ".tmp", "w") as f:
                f.write(str(self.n))
            os.replace(self.state + ".tmp", self.state)
            self.update()
        return super().getValues(address, count)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state", required=True)
    args = ap.parse_args()
    slave = ModbusSlaveContext(ir=Meter(args.state), zero_mode=True)
    StartTcpServer(context=ModbusServerContext(slaves=slave, single=True),
                   address=("127.0.0.1", args.port), allow_reuse_address=True)


if __name__ == "__main__":
    main()
