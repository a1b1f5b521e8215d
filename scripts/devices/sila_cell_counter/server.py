"""A SiLA 2 test cell counter for atmpflow's device adapter tests (sila2 PyPI package).

Serves the CellCounter feature of CellCounter.sila.xml next to this file. CountCells counts for
--count-seconds, reporting progress, remaining time and cells counted so far, then returns a
viable cell density and viability. --fault switches one fault on:

  none       normal behaviour
  clogged    CountCells fails half way with the defined execution error ChamberClogged
  vanish     the server process exits half way through CountCells (connection lost)
  slow       CountCells stalls half way and never finishes (the client must time out)
  bad-value  CountCells returns a viability of NaN (the sila2 server refuses to send it: an
             undefined execution error) and ChamberTemperature sends NaN, which the
             feature does not constrain, so it reaches the client (which must refuse it)

--fault-after N keeps the fault off for the first N CountCells calls (e.g. a batch whose first
count succeeds and whose second fails).

Usage: python server.py --port PORT [--fault F [--fault-after N]] [--cert CERT.pem --key KEY.pem]
       [--count-seconds S]
Without --cert/--key the server is plain (insecure) gRPC. Prints "READY" once it serves.
"""

import argparse
import os
import pathlib
import sys
import threading
import time
from datetime import timedelta
from queue import Queue

from sila2.framework import Feature
from sila2.framework.errors.defined_execution_error import DefinedExecutionError
from sila2.server import FeatureImplementationBase, SilaServer

HERE = pathlib.Path(__file__).resolve().parent
FAULTS = ("none", "clogged", "vanish", "slow", "bad-value")
SERVER_UUID = "5d2c1a7e-0f3b-4c59-9a8e-7b1e3c2d4f60"
# Returned values: assumptions for a test device, not measurements.
VIABLE_CELL_DENSITY = 1.25e6  # cells/mL, assumption
VIABILITY = 92.5  # %, assumption


class CellCounterImpl(FeatureImplementationBase):
    def __init__(self, server, feature, fault, count_seconds):
        super().__init__(server)
        self.feature = feature
        self.fault = fault
        self.count_seconds = count_seconds
        self.calls = 0
        self.fault_after = 0
        self.state = "Idle"
        self.temperature = 22.0
        self._ChamberTemperature_producer_queue = Queue()
        self._ChamberTemperature_producer_queue.put(self.temperature)
        self.run_periodically(self._drift_temperature, delay_seconds=0.2)

    def _drift_temperature(self):
        # a slow saw-tooth between 22.0 and 23.0 °C (assumption: a room-temperature chamber)
        self.temperature = 22.0 + ((self.temperature - 22.0 + 0.1) % 1.0)
        value = float("nan") if self.fault == "bad-value" else round(self.temperature, 3)
        self._ChamberTemperature_producer_queue.put(value)

    def ChamberTemperature_on_subscription(self, *, metadata):
        return None

    def get_DeviceState(self, *, metadata):
        return self.state

    def SelfTest(self, *, metadata):
        return self.fault != "clogged"

    def CountCells(self, SampleId, SampleVolume, *, metadata, instance):
        self.calls += 1
        fault = self.fault if self.calls > self.fault_after else "none"
        instance.begin_execution()
        self.state = "Counting"
        steps = 10
        try:
            for i in range(steps):
                if i == steps // 2:
                    if fault == "clogged":
                        self.state = "Fault"
                        raise DefinedExecutionError(
                            self.feature.defined_execution_errors["ChamberClogged"],
                            f"sample {SampleId}: flow stopped in the counting chamber",
                        )
                    if fault == "vanish":
                        sys.stdout.flush()
                        os._exit(3)
                    if fault == "slow":
                        while True:
                            time.sleep(1.0)
                instance.progress = i / steps
                instance.estimated_remaining_time = timedelta(seconds=self.count_seconds * (steps - i) / steps)
                instance.send_intermediate_response(int(1000 * (i + 1) * SampleVolume / 10))
                time.sleep(self.count_seconds / steps)
            instance.progress = 1.0
            instance.estimated_remaining_time = timedelta(0)
        finally:
            if self.state == "Counting":
                self.state = "Idle"
        viability = float("nan") if fault == "bad-value" else VIABILITY
        return (VIABLE_CELL_DENSITY, viability)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fault", choices=FAULTS, default="none")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--count-seconds", type=float, default=2.0)
    ap.add_argument("--fault-after", type=int, default=0)
    args = ap.parse_args()

    feature = Feature((HERE / "CellCounter.sila.xml").read_text())
    server = SilaServer(
        server_name="Test cell counter",
        server_type="CellCounter",
        server_description="atmpflow test cell counter (sila2 PyPI package)",
        server_version="1.0",
        server_vendor_url="https://example.org/atmpflow",
        server_uuid=SERVER_UUID,
    )
    impl = CellCounterImpl(server, feature, args.fault, args.count_seconds)
    impl.fault_after = max(args.fault_after, 0)
    server.set_feature_implementation(feature, impl)
    if args.cert and args.key:
        server.start(
            args.host,
            args.port,
            private_key=pathlib.Path(args.key).read_bytes(),
            cert_chain=pathlib.Path(args.cert).read_bytes(),
            enable_discovery=False,
        )
    else:
        server.start_insecure(args.host, args.port, enable_discovery=False)
    print("READY", flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
