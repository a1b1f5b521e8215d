#!/usr/bin/env python3
"""A LADS-like OPC UA test bioreactor (asyncua) for atmpflow's device adapter tests.

Address space (namespace urn:atmpflow:test-bioreactor, string node ids):
  Objects/DeviceSet/Bioreactor1             nameplate (Manufacturer, Model, SerialNumber,
                                            SoftwareRevision), QualificationState, counters
                                            (ProgramRuns, OperatingHours)
    FunctionalUnitSet/BioreactorUnit
      FunctionSet                           measured variables: Temperature, pH,
                                            DissolvedOxygen, ViableCellDensity, CO2,
                                            Glucose, PerfusionRate (fast clock)
      ProgramManager
        ProgramTemplateSet/Expansion        a program with parameters
        ActiveProgram                       CurrentState, CurrentProgramTemplate,
                                            CurrentRuntime (device hours), DeviceProgramRunId
        ResultSet                           FoldExpansion, Viability, ElapsedHours
        StartProgram(ProgramTemplateId: String, Parameters: String "name=value;...") -> RunId
        Stop()

LADS passes program parameters as KeyValue structures; this test device takes
one "name=value;name=value" string instead (an assumption of the test device, documented in
docs/devices.md). The program's device time runs --speed device seconds per real second.

Faults (--fault): none; disconnect (the server goes away mid-run for --outage seconds,
then comes back); lost (the server goes away mid-run for good); bad-status (Temperature
carries BadSensorFailure); fail (the program aborts halfway). Several at once are given
comma-separated (e.g. disconnect,bad-status).

Security: --security none | sign-and-encrypt (Basic256Sha256 only, with --cert/--key made by the
test with scripts/devices/make_test_certs.py; only client certificates issued by the CA given
with --trust, or that certificate itself if it is a CA, are accepted).

All figures are ASSUMPTIONS of a test device (not a process model): 37 degC, pH 7.2,
DO 40 %, 5 % CO2, a 30-fold expansion (docs/devices.md).
"""

import argparse
import asyncio
import datetime
import math
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from asyncua import Server, ua, uamethod
from asyncua.crypto.permission_rules import SimpleRoleRuleset
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

NS_URI = "urn:atmpflow:test-bioreactor"
SERVER_URI = "urn:atmpflow:test-bioreactor"


class Bioreactor:
    def __init__(self, args):
        self.args = args
        self.faults = set(args.fault.split(",")) - {"none"}
        self.server = None
        self.nodes = {}
        self.state = "Idle"
        self.run_task = None
        self.runs = 0
        self.hours = 0.0
        self.rng = random.Random(args.seed)

    def nid(self, s):
        return ua.NodeId(s, self.idx)

    async def var(self, parent, name, sid, value, vtype=None):
        node = await parent.add_variable(self.nid(sid), name, ua.Variant(value, vtype) if vtype else value)
        self.nodes[sid] = node
        return node

    async def build(self):
        args = self.args
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{args.port}/atmpflow/bioreactor")
        server.set_server_name("atmpflow test bioreactor")
        await server.set_application_uri(SERVER_URI)
        if args.security == "sign-and-encrypt":
            server.set_security_policy(
                [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
                permission_ruleset=SimpleRoleRuleset(),
            )
            await server.load_certificate(args.cert)
            await server.load_private_key(args.key)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.idx = await server.register_namespace(NS_URI)
        objects = server.nodes.objects
        device_set = await objects.add_object(self.nid("DeviceSet"), "DeviceSet")
        dev = await device_set.add_object(self.nid("Bioreactor1"), "Bioreactor1")
        for name, value in [
            ("Manufacturer", "atmpflow test devices"),
            ("Model", "LADS-like bioreactor (simulated)"),
            ("SerialNumber", "BR-TEST-0001"),
            ("SoftwareRevision", "1.0"),
            ("QualificationState", "qualified"),
        ]:
            await self.var(dev, name, f"Bioreactor1.{name}", value)
        await self.var(dev, "ProgramRuns", "Bioreactor1.ProgramRuns", 0, ua.VariantType.UInt32)
        await self.var(dev, "OperatingHours", "Bioreactor1.OperatingHours", 0.0, ua.VariantType.Double)
        fus = await dev.add_object(self.nid("Bioreactor1.FunctionalUnitSet"), "FunctionalUnitSet")
        fu = await fus.add_object(self.nid("BioreactorUnit"), "BioreactorUnit")
        fs = await fu.add_object(self.nid("BioreactorUnit.FunctionSet"), "FunctionSet")
        for name, value in [
            ("Temperature", 37.0),
            ("pH", 7.2),
            ("DissolvedOxygen", 40.0),
            ("ViableCellDensity", 0.5),
            ("CO2", 5.0),
            ("Glucose", 3.0),
            ("PerfusionRate", 0.0),
        ]:
            await self.var(fs, name, f"BioreactorUnit.{name}", value, ua.VariantType.Double)
        pm = await fu.add_object(self.nid("BioreactorUnit.ProgramManager"), "ProgramManager")
        pts = await pm.add_object(self.nid("BioreactorUnit.ProgramTemplateSet"), "ProgramTemplateSet")
        tmpl = await pts.add_object(self.nid("BioreactorUnit.Program.Expansion"), "Expansion")
        await self.var(tmpl, "Description", "BioreactorUnit.Program.Expansion.Description",
                       "Expansion: parameters DurationHours, TargetTemperature, PerfusionRate")
        ap = await pm.add_object(self.nid("BioreactorUnit.ActiveProgram"), "ActiveProgram")
        await self.var(ap, "CurrentState", "BioreactorUnit.ActiveProgram.CurrentState", "Idle")
        await self.var(ap, "CurrentProgramTemplate", "BioreactorUnit.ActiveProgram.CurrentProgramTemplate", "")
        await self.var(ap, "CurrentRuntime", "BioreactorUnit.ActiveProgram.CurrentRuntime", 0.0, ua.VariantType.Double)
        await self.var(ap, "DeviceProgramRunId", "BioreactorUnit.ActiveProgram.DeviceProgramRunId", "")
        await self.var(ap, "ErrorMessage", "BioreactorUnit.ActiveProgram.ErrorMessage", "")
        rs = await pm.add_object(self.nid("BioreactorUnit.ResultSet"), "ResultSet")
        for name in ["FoldExpansion", "Viability", "ElapsedHours"]:
            await self.var(rs, name, f"BioreactorUnit.Result.{name}", math.nan, ua.VariantType.Double)
        await pm.add_method(self.nid("BioreactorUnit.ProgramManager.StartProgram"), "StartProgram",
                            self.start_program, [ua.VariantType.String, ua.VariantType.String],
                            [ua.VariantType.String])
        await pm.add_method(self.nid("BioreactorUnit.ProgramManager.Stop"), "Stop", self.stop_program, [], [])
        if args.security == "sign-and-encrypt":
            # The trust store reads a folder: it holds only the one trusted certificate.
            trust_dir = tempfile.mkdtemp(prefix="bioreactor-trust-")
            shutil.copy(args.trust, os.path.join(trust_dir, "trusted.der"))
            trust = TrustStore([Path(trust_dir)], [])
            await trust.load()
            validator = CertificateValidator(
                CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT,
                trust)
            server.set_certificate_validator(validator)
        self.server = server

    async def set(self, sid, value, status=None):
        if isinstance(value, ua.Variant):
            variant = value
        elif isinstance(value, float):
            variant = ua.Variant(value, ua.VariantType.Double)
        else:
            variant = ua.Variant(value)
        dv = ua.DataValue(variant, StatusCode=ua.StatusCode(status or ua.StatusCodes.Good),
                          SourceTimestamp=datetime.datetime.now(datetime.timezone.utc))
        await self.server.write_attribute_value(self.nodes[sid].nodeid, dv)

    async def go_offline(self):
        """The device leaves the network: it stops accepting connections, then drops the open ones.

        asyncua's Server.stop closes the open connections before the listening socket and then
        waits until every connection has ended. A client that reconnects in between would keep
        a live connection, and stop would wait on it until the client gives up, so the device
        would not come back and the outage would never be seen. Closing the listening socket
        first (asyncua 2.1's BinaryServer keeps it as `_server`) leaves no such window.
        """
        listener = getattr(self.server.bserver, "_server", None)
        if listener is not None:
            listener.close()
        await self.server.stop()

    @uamethod
    async def start_program(self, parent, template, parameters):
        if template != "Expansion":
            return ua.StatusCode(ua.StatusCodes.BadNotFound)
        if self.state == "Running":
            return ua.StatusCode(ua.StatusCodes.BadInvalidState)
        params = {}
        for item in (parameters or "").split(";"):
            if item.strip():
                k, _, v = item.partition("=")
                params[k.strip()] = float(v)
        self.runs += 1
        run_id = f"RUN-{self.runs:04d}"
        self.state = "Running"
        await self.set("BioreactorUnit.ActiveProgram.CurrentState", "Running")
        await self.set("BioreactorUnit.ActiveProgram.CurrentProgramTemplate", template)
        await self.set("BioreactorUnit.ActiveProgram.DeviceProgramRunId", run_id)
        self.run_task = asyncio.get_running_loop().create_task(self.run_program(params))
        return run_id

    @uamethod
    async def stop_program(self, parent):
        if self.run_task:
            self.run_task.cancel()
        self.state = "Stopped"
        await self.set("BioreactorUnit.ActiveProgram.CurrentState", "Stopped")

    async def run_program(self, params):
        duration_h = params.get("DurationHours", 288.0)
        target_t = params.get("TargetTemperature", 37.0)
        perfusion = params.get("PerfusionRate", 500.0)
        tick = 0.05
        real_s = duration_h * 3600.0 / self.args.speed
        elapsed = 0.0
        faulted = False
        while elapsed < real_s:
            await asyncio.sleep(tick)
            elapsed += tick
            h = elapsed * self.args.speed / 3600.0
            frac = elapsed / real_s
            vcd = 0.5 * math.exp(math.log(30.0) * frac)
            bad = ua.StatusCodes.BadSensorFailure if "bad-status" in self.faults and frac > 0.2 else None
            await self.set("BioreactorUnit.Temperature", target_t + self.rng.uniform(-0.2, 0.2), bad)
            await self.set("BioreactorUnit.pH", 7.2 + self.rng.uniform(-0.05, 0.05))
            await self.set("BioreactorUnit.DissolvedOxygen", 40.0 + self.rng.uniform(-3, 3))
            await self.set("BioreactorUnit.ViableCellDensity", vcd)
            await self.set("BioreactorUnit.CO2", 5.0 + self.rng.uniform(-0.1, 0.1))
            await self.set("BioreactorUnit.Glucose", 3.0 + self.rng.uniform(-0.3, 0.3))
            await self.set("BioreactorUnit.PerfusionRate", perfusion)
            await self.set("BioreactorUnit.ActiveProgram.CurrentRuntime", h)
            if not faulted and frac >= 0.5:
                faulted = True
                if "fail" in self.faults:
                    self.state = "Aborted"
                    await self.set("BioreactorUnit.ActiveProgram.ErrorMessage", "agitator motor stalled")
                    await self.set("BioreactorUnit.ActiveProgram.CurrentState", "Aborted")
                    return
                if self.faults & {"disconnect", "lost"}:
                    print(f"fault {self.args.fault}: stopping the server", flush=True)
                    await self.go_offline()
                    if "lost" in self.faults:
                        await asyncio.sleep(self.args.outage * 100)
                        return
                    await asyncio.sleep(self.args.outage)
                    await self.server.start()
                    print("server back", flush=True)
        self.hours += duration_h
        await self.set("BioreactorUnit.Result.FoldExpansion", 30.0 + self.rng.uniform(-2, 2))
        await self.set("BioreactorUnit.Result.Viability", 0.9 + self.rng.uniform(-0.03, 0.03))
        await self.set("BioreactorUnit.Result.ElapsedHours", duration_h)
        await self.set("Bioreactor1.ProgramRuns", ua.Variant(self.runs, ua.VariantType.UInt32))
        await self.set("Bioreactor1.OperatingHours", self.hours)
        self.state = "Completed"
        await self.set("BioreactorUnit.ActiveProgram.CurrentState", "Completed")


FAULTS = ["disconnect", "lost", "bad-status", "fail"]


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=4840)
    p.add_argument("--speed", type=float, default=345600.0,
                   help="device seconds per real second (default: 288 h in 3 s)")
    p.add_argument("--fault", default="none",
                   help="none, or one or more (comma-separated) of: " + ", ".join(FAULTS))
    p.add_argument("--outage", type=float, default=1.5, help="seconds the server is away (disconnect)")
    p.add_argument("--security", choices=["none", "sign-and-encrypt"], default="none")
    p.add_argument("--cert", help="server certificate (DER)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--trust", help="the CA certificate whose client certificates are accepted (DER)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    unknown = set(args.fault.split(",")) - set(FAULTS) - {"none"}
    if unknown:
        sys.exit(f"--fault: unknown {', '.join(sorted(unknown))} (known: {', '.join(FAULTS)})")
    if args.security == "sign-and-encrypt" and not (args.cert and args.key and args.trust):
        sys.exit("sign-and-encrypt needs --cert, --key and --trust")
    dev = Bioreactor(args)
    await dev.build()
    await dev.server.start()
    print(f"ready opc.tcp://127.0.0.1:{args.port}/atmpflow/bioreactor", flush=True)
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
