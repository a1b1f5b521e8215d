"""Drive a running `atmpflow serve` with a third-party AAS client from PyPI.

The client is `aas-http-client` (its `SdkWrapper` serialises basyx-python-sdk
objects; its `AasHttpClient` sends the JSON), authenticated with
`Authorization: Bearer TOKEN`. The script goes through reads, writes (shells,
submodels, submodel elements, submodel references), the AAS and Submodel
Registries and Discovery (aas-http-client has no discovery calls: those go
through the client's own authenticated HTTP session), then reads everything
back and checks it with basyx-python-sdk and aas-core3.0 (every object
deserialised and verified). Every step asserts what the server must have done
— status codes, counts, contents — and the script exits 1 on the first
mismatch.

    python scripts/aas/client_check.py BASE_URL TOKEN READER_TOKEN

BASE_URL is the API's base (`http://127.0.0.1:PORT/api/v3.0`); TOKEN belongs
to a user with the `writer` (or `admin`) role, READER_TOKEN to a `reader`.
"""

import base64
import io
import json
import logging
import sys

import aas_core3.jsonization as jsonization
import aas_core3.verification as verification
import requests
from basyx.aas import model
from basyx.aas.adapter.json import AASToJsonEncoder, read_aas_json_file

# importing aas_http_client asks PyPI whether a newer release exists (a network
# call at import time); the check pins its version, so that call is cut off
logging.getLogger("aas_http_client").setLevel(logging.CRITICAL)
_get = requests.get
requests.get = lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("no update check"))
try:
    from aas_http_client.classes.wrapper.sdk_wrapper import IdEncoding, create_by_url
finally:
    requests.get = _get

# the ids this check creates: removed again at the end, so the check can run twice
SHELL_ID = "urn:atmpflow:test:client-check:aas:incubator-7"
ASSET_ID = "urn:atmpflow:test:client-check:asset:incubator-7"
SM_ID = "urn:atmpflow:test:client-check:sm:incubator-7:Settings"
DEVICE_ID = "https://scale.example.org/aas/Waage-3?lot=ä&n=1#main"  # "/", "?", "&", "#" and non-ASCII
DEVICE_SM_ID = "urn:atmpflow:test:client-check:sm:external-scale-3:Calibration"
REMOTE_SM_ID = "urn:atmpflow:test:client-check:sm:remote/Prüfplan+1"

STEPS = 0


def check(cond: bool, what: str) -> None:
    global STEPS
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    STEPS += 1


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def gref(value: str) -> model.ExternalReference:
    return model.ExternalReference((model.Key(model.KeyTypes.GLOBAL_REFERENCE, value),))


def settings_submodel() -> model.Submodel:
    return model.Submodel(
        id_=SM_ID,
        id_short="Settings",
        semantic_id=gref("urn:atmpflow:test:semantic:IncubatorSettings"),
        submodel_element=[
            model.Property("Temperature", model.datatypes.Double, 37.0),
            model.Property("Co2Percent", model.datatypes.Double, 5.0),
            model.MultiLanguageProperty(
                "Label", model.MultiLanguageTextType({"en": "Incubator 7", "de": "Inkubator 7"})
            ),
            model.Range("HumidityLimits", model.datatypes.Double, min=85.0, max=95.0),
            model.SubmodelElementCollection(
                "Door",
                value=[
                    model.Property("Open", model.datatypes.Boolean, False),
                    model.Property("Openings", model.datatypes.Int, 3),
                ],
            ),
            model.SubmodelElementList(
                "ShelfLoads",
                model.Property,
                value_type_list_element=model.datatypes.Int,
                value=[
                    model.Property(None, model.datatypes.Int, 2),
                    model.Property(None, model.datatypes.Int, 4),
                ],
            ),
        ],
    )


def incubator_shell() -> model.AssetAdministrationShell:
    return model.AssetAdministrationShell(
        asset_information=model.AssetInformation(
            asset_kind=model.AssetKind.INSTANCE,
            global_asset_id=ASSET_ID,
            specific_asset_id=[model.SpecificAssetId(name="serialNumber", value="INC-7-2026")],
        ),
        id_=SHELL_ID,
        id_short="Incubator7",
    )


def sm_ref(sm_id: str) -> model.ModelReference:
    return model.ModelReference((model.Key(model.KeyTypes.SUBMODEL, sm_id),), model.Submodel)


class Raw:
    """Plain HTTP through the client's own session (it carries the token)."""

    def __init__(self, session: requests.Session, base: str):
        self.s, self.base = session, base

    def req(self, method: str, path: str, **kw) -> requests.Response:
        return self.s.request(method, self.base + path, timeout=60, **kw)

    def status(self, method: str, path: str, **kw) -> int:
        return self.req(method, path, **kw).status_code

    def json(self, path: str, **kw):
        r = self.req("GET", path, **kw)
        check(r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def all_pages(self, path: str, limit: int = 7) -> list:
        out, cursor, pages = [], None, 0
        while True:
            params = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self.json(path, params=params)
            out += page["result"]
            pages += 1
            check(pages < 10000, f"{path}: paging does not end")
            cursor = page.get("paging_metadata", {}).get("cursor")
            if not cursor:
                return out


def error_text(r: requests.Response) -> str:
    """The text of the AAS error body (and that it is one)."""
    body = r.json()
    msgs = body.get("messages")
    check(isinstance(msgs, list) and msgs, f"error body of {r.status_code} has no messages: {r.text[:200]}")
    check(msgs[0].get("code") == str(r.status_code), f"error code {msgs[0].get('code')} != {r.status_code}")
    return msgs[0].get("text", "")


def all_pages(list_page) -> list:
    """Every item of a list the client pages through (`list_page(cursor)`)."""
    out, cursor = [], ""
    while True:
        page = list_page(cursor)
        check(page is not None, "aas-http-client: a list request failed")
        out += page.results
        cursor = page.paging_metadata.cursor
        if not cursor:
            return out


def all_shells(sdk) -> list:
    return all_pages(lambda c: sdk.get_all_asset_administration_shells(limit=5, cursor=c))


def all_submodels(sdk) -> list:
    return all_pages(lambda c: sdk.get_all_submodels(limit=11, cursor=c))


def verify_core(kind: str, jsonable: dict) -> None:
    """aas-core3.0: deserialise one object and verify it (no error allowed)."""
    parse = {
        "shell": jsonization.asset_administration_shell_from_jsonable,
        "submodel": jsonization.submodel_from_jsonable,
    }[kind]
    try:
        obj = parse(jsonable)
    except jsonization.DeserializationException as e:
        check(False, f"aas-core3.0 cannot read {kind} {jsonable.get('id')}: {e.path}: {e.cause}")
    errors = [f"{e.path}: {e.cause}" for e in verification.verify(obj)]
    check(not errors, f"aas-core3.0: {kind} {jsonable.get('id')}: {errors[:3]}")


def main() -> int:
    base, token, reader_token = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    logging.basicConfig(level=logging.CRITICAL)

    sdk = create_by_url(base, bearer_auth_token=token, encoded_ids=False)
    check(sdk is not None, "aas-http-client: cannot create the client")
    sdk.set_encoded_ids(IdEncoding.decoded)  # the client base64url-encodes ids itself
    client = sdk.get_client()
    raw = Raw(client.get_session(), base)
    check(raw.s.headers.get("Authorization") == f"Bearer {token}", "aas-http-client does not send the bearer token")

    # --- access control ---------------------------------------------------------
    anon = requests.get(f"{base}/shells", timeout=60)
    check(anon.status_code == 401, f"GET /shells without a token: {anon.status_code}")
    check("Bearer" in anon.headers.get("WWW-Authenticate", ""), "401 without WWW-Authenticate: Bearer")
    error_text(anon)
    reader = create_by_url(base, bearer_auth_token=reader_token, encoded_ids=False)
    reader.set_encoded_ids(IdEncoding.decoded)
    check(reader.post_submodel(settings_submodel()) is None, "a reader created a submodel")
    rr = Raw(reader.get_client().get_session(), base)
    r = rr.req("POST", "/submodels", json={"id": SM_ID, "modelType": "Submodel"})
    check(r.status_code == 403, f"POST /submodels as a reader: {r.status_code}")
    error_text(r)
    check(len(all_shells(reader)) > 0, "a reader cannot list shells")

    # clean up what an earlier interrupted run may have left
    for path in (f"/shells/{b64(SHELL_ID)}", f"/submodels/{b64(SM_ID)}", f"/shell-descriptors/{b64(DEVICE_ID)}",
                 f"/submodel-descriptors/{b64(REMOTE_SM_ID)}", f"/lookup/shells/{b64(DEVICE_ID)}"):
        raw.req("DELETE", path)

    # --- reads ------------------------------------------------------------------
    desc = client.shell_registry.get_self_description()
    check(desc is not None and desc.get("profiles"), "GET /description through the client")
    shells = all_shells(sdk)
    submodels = all_submodels(sdk)
    env = raw.json("/serialization")
    n_shells, n_sms = len(env["assetAdministrationShells"]), len(env["submodels"])
    check(n_shells > 0 and n_sms > 0, "the server holds no twins")
    check(len(shells) == n_shells, f"client paged {len(shells)} shells, /serialization has {n_shells}")
    check(len(submodels) == n_sms, f"client paged {len(submodels)} submodels, /serialization has {n_sms}")
    check(len({s.id for s in shells}) == n_shells, "paging returned a shell twice")
    check(all(isinstance(s, model.AssetAdministrationShell) for s in shells), "client did not read shells")
    # one shell and each of its submodels, through the shell and directly
    some = shells[0]
    got = sdk.get_asset_administration_shell_by_id(some.id)
    check(got is not None and got.id == some.id, f"GET shell {some.id}")
    refs = sdk.get_all_submodel_references_aas_repository(some.id)
    check(refs is not None and len(refs.results) == len(some.submodel), "submodel references of a shell")
    for ref in some.submodel:
        sm_id = ref.key[0].value
        a = client.shells.get_submodel_by_id_aas_repository(some.id, sm_id)
        b = client.submodels.get_submodel_by_id(sm_id)
        check(a is not None and a == b, f"submodel {sm_id} through its shell differs from the direct read")
        md = client.submodels.get_submodel_by_id_metadata(sm_id)
        check(md is not None and "submodelElements" not in md and md["id"] == sm_id, f"$metadata of {sm_id}")
        val = client.submodels.get_submodel_by_id_value_only(sm_id)
        check(isinstance(val, dict), f"$value of {sm_id}")
    check(client.submodels.get_submodel_by_id("urn:atmpflow:test:client-check:none") is None, "unknown submodel found")
    check(raw.status("GET", f"/submodels/{b64('urn:atmpflow:test:client-check:none')}") == 404, "unknown submodel: not 404")

    # --- writes: shell and submodel -----------------------------------------------
    created = sdk.post_submodel(settings_submodel())
    check(created is not None and created.id == SM_ID, "POST /submodels through the client")
    check(sdk.post_submodel(settings_submodel()) is None, "creating the same submodel twice succeeded")
    r = raw.req("POST", "/submodels", json=json.loads(json.dumps(settings_submodel(), cls=AASToJsonEncoder)))
    check(r.status_code == 409, f"duplicate submodel: {r.status_code}, not 409")
    error_text(r)
    shell = incubator_shell()
    created = sdk.post_asset_administration_shell(shell)
    check(created is not None and created.id == SHELL_ID, "POST /shells through the client")
    # (the client hands references back as JSON: it reads only objects with a modelType)
    ref = sdk.post_submodel_reference_aas_repository(SHELL_ID, sm_ref(SM_ID))
    check(ref is not None, "POST submodel-refs through the client")
    refs = sdk.get_all_submodel_references_aas_repository(SHELL_ID)
    check(refs is not None and [r["keys"][0]["value"] for r in refs.results] == [SM_ID], "the shell's submodel references")
    check(len(all_shells(sdk)) == n_shells + 1, "shell count after POST")
    check(len(all_submodels(sdk)) == n_sms + 1, "submodel count after POST")

    # filters, modifiers and paging as the client sends them
    found = client.submodels.get_all_submodels(semantic_id=b64("urn:atmpflow:test:semantic:IncubatorSettings"))
    check(found is not None and [s["id"] for s in found["result"]] == [SM_ID], f"semanticId filter: {found}")
    found = client.submodels.get_all_submodels(id_short="Settings", limit=1000)
    check(found is not None and SM_ID in [s["id"] for s in found["result"]], "idShort filter on /submodels")
    check(all(s["idShort"] == "Settings" for s in found["result"]), "idShort filter returned other submodels")
    found = client.shells.get_all_asset_administration_shells(id_short="Incubator7")
    check(found is not None and [s["id"] for s in found["result"]] == [SHELL_ID], f"idShort filter on /shells: {found}")
    found = client.shells.get_all_asset_administration_shells(
        asset_ids=[b64(json.dumps({"name": "globalAssetId", "value": ASSET_ID}))])
    check(found is not None and [s["id"] for s in found["result"]] == [SHELL_ID], f"assetIds filter on /shells: {found}")
    shell_ref = client.shells.get_asset_administration_shell_by_id_reference_aas_repository(SHELL_ID)
    check(shell_ref is not None and shell_ref["keys"] == [{"type": "AssetAdministrationShell", "value": SHELL_ID}], f"$reference: {shell_ref}")
    core = client.submodels.get_submodel_by_id(SM_ID, level="core")
    door = [e for e in core["submodelElements"] if e["idShort"] == "Door"][0]
    check("value" not in door or door["value"] == [], f"level=core still has the collection's children: {door}")
    page1 = client.submodels.get_all_submodel_elements_submodel_repository(SM_ID, limit=4)
    check(page1 is not None and len(page1["result"]) == 4 and page1["paging_metadata"].get("cursor"), "elements page 1 of 2")
    page2 = client.submodels.get_all_submodel_elements_submodel_repository(SM_ID, limit=4, cursor=page1["paging_metadata"]["cursor"])
    check(page2 is not None and [e["idShort"] for e in page2["result"]] == ["Door", "ShelfLoads"], f"elements page 2: {page2}")
    check(not page2.get("paging_metadata", {}).get("cursor"), "a cursor after the last page")
    check(client.shells.put_submodel_by_id_aas_repository(SHELL_ID, SM_ID, json.loads(json.dumps(settings_submodel(), cls=AASToJsonEncoder))),
          "PUT submodel through its shell")

    sm = client.submodels.get_submodel_by_id(SM_ID)
    names = [e["idShort"] for e in sm["submodelElements"]]
    check(names == ["Temperature", "Co2Percent", "Label", "HumidityLimits", "Door", "ShelfLoads"], f"elements read back: {names}")
    check(sm["submodelElements"][0]["value"] == "37.0", f"Temperature read back: {sm['submodelElements'][0].get('value')}")
    verify_core("submodel", sm)
    verify_core("shell", client.shells.get_asset_administration_shell_by_id(SHELL_ID))

    # elements: read, replace, add (top level and inside a collection), delete
    el = sdk.get_submodel_element_by_path_submodel_repo(SM_ID, "Door.Openings")
    check(isinstance(el, model.Property) and el.value == 3, f"Door.Openings read back: {el}")
    check(
        sdk.put_submodel_element_by_path_submodel_repo(SM_ID, "Temperature", model.Property("Temperature", model.datatypes.Double, 36.5)),
        "PUT element through the client",
    )
    value = client.submodels.get_submodel_element_by_path_value_only_submodel_repo(SM_ID, "Temperature")
    check(value == {"Temperature": 36.5}, f"Temperature $value after PUT: {value}")
    added = sdk.post_submodel_element_by_path_submodel_repo(SM_ID, "Door", model.Property("LastOpenedBy", model.datatypes.String, "operator-3"))
    check(added is not None and added.id_short == "LastOpenedBy", "POST element into a collection")
    added = sdk.post_submodel_element_submodel_repo(SM_ID, model.Property("Setpoint", model.datatypes.Double, 37.0))
    check(added is not None, "POST element at top level")
    check(sdk.post_submodel_element_submodel_repo(SM_ID, model.Property("Setpoint", model.datatypes.Double, 1.0)) is None,
          "a second element with the same idShort was added")
    els = client.submodels.get_all_submodel_elements_submodel_repository(SM_ID)
    check(els is not None and len(els["result"]) == 7, f"7 elements after POST, got {els and len(els['result'])}")
    door = client.submodels.get_submodel_element_by_path_submodel_repo(SM_ID, "Door")
    check([c["idShort"] for c in door["value"]] == ["Open", "Openings", "LastOpenedBy"], f"Door children: {door}")
    check(sdk.delete_submodel_element_by_path_submodel_repo(SM_ID, "Co2Percent"), "DELETE element through the client")
    check(sdk.get_submodel_element_by_path_submodel_repo(SM_ID, "Co2Percent") is None, "deleted element still there")
    check(raw.status("GET", f"/submodels/{b64(SM_ID)}/submodel-elements/Co2Percent") == 404, "deleted element: not 404")
    list_item = client.submodels.get_submodel_element_by_path_submodel_repo(SM_ID, "ShelfLoads[1]")
    check(list_item is not None and list_item["value"] == "4", f"ShelfLoads[1]: {list_item}")
    # an invalid element is refused with a located message, and nothing changes
    before = client.submodels.get_submodel_by_id(SM_ID)
    r = raw.req("PUT", f"/submodels/{b64(SM_ID)}/submodel-elements/Temperature",
                json={"modelType": "Property", "idShort": "Temperature", "valueType": "xs:double", "value": "warm"})
    check(r.status_code == 400, f"PUT of a non-number xs:double: {r.status_code}")
    check("$.value" in error_text(r), f"400 does not name $.value: {r.text[:200]}")
    check(client.submodels.get_submodel_by_id(SM_ID) == before, "a refused PUT changed the submodel")

    # replace the whole submodel and the shell
    new_sm = settings_submodel()
    new_sm.description = model.MultiLanguageTextType({"en": "Set points of incubator 7"})
    check(sdk.put_submodels_by_id(SM_ID, new_sm), "PUT submodel through the client")
    sm = client.submodels.get_submodel_by_id(SM_ID)
    check(len(sm["submodelElements"]) == 6 and sm["description"][0]["text"] == "Set points of incubator 7", "submodel after PUT")
    check(client.shells.get_submodel_by_id_aas_repository(SHELL_ID, SM_ID) == sm, "submodel through the shell after PUT")
    shell = sdk.get_asset_administration_shell_by_id(SHELL_ID)
    shell.display_name = model.MultiLanguageNameType({"en": "Incubator 7 (cleanroom B)"})
    check(sdk.put_asset_administration_shell_by_id(SHELL_ID, shell), "PUT shell through the client")
    got = client.shells.get_asset_administration_shell_by_id(SHELL_ID)
    check(got["displayName"] == [{"language": "en", "text": "Incubator 7 (cleanroom B)"}], f"shell after PUT: {got.get('displayName')}")
    check(len(got["submodels"]) == 1, "PUT of the shell lost its submodel reference")

    # partial updates (PATCH) as the client sends them: ValueOnly of the submodel and of one
    # element, and a submodel merged into the stored one
    check(client.submodels.patch_submodel_by_id_value_only(SM_ID, {"Temperature": 35.5, "Door": {"Open": True}}),
          "PATCH /submodels/{id}/$value through the client")
    value = client.submodels.get_submodel_by_id_value_only(SM_ID)
    check(value["Temperature"] == 35.5 and value["Door"] == {"Open": True, "Openings": 3}, f"$value after PATCH: {value}")
    check(client.submodels.patch_submodel_element_by_path_value_only_submodel_repo(SM_ID, "Door.Openings", "4"),
          "PATCH …/submodel-elements/{path}/$value through the client")
    check(client.submodels.get_submodel_element_by_path_submodel_repo(SM_ID, "Door.Openings")["value"] == "4",
          "element value after PATCH")
    partial = model.Submodel(id_=SM_ID, id_short="Settings",
                             description=model.MultiLanguageTextType({"en": "Set points, patched"}),
                             submodel_element=[model.Property("Temperature", model.datatypes.Double, 37.5)])
    check(sdk.patch_submodel_by_id(SM_ID, partial), "PATCH /submodels/{id} through the client")
    sm = client.submodels.get_submodel_by_id(SM_ID)
    check(sm["description"] == [{"language": "en", "text": "Set points, patched"}], "description after PATCH")
    check(len(sm["submodelElements"]) == 6, f"PATCH lost elements: {[e['idShort'] for e in sm['submodelElements']]}")
    check(sm["submodelElements"][0]["value"] == "37.5", "Temperature after PATCH")
    check(sm["submodelElements"][4]["value"][1]["value"] == "4", "PATCH of the submodel changed an element it did not name")
    r = raw.req("PATCH", f"/submodels/{b64(SM_ID)}/$value", json={"HumidityLimits": {"max": "humid"}})
    check(r.status_code == 400, f"PATCH of an invalid value: {r.status_code}")
    check("$.HumidityLimits.max" in error_text(r), f"400 does not name $.HumidityLimits.max: {r.text[:200]}")
    r = rr.req("PATCH", f"/submodels/{b64(SM_ID)}/$value", json={"Temperature": 1})
    check(r.status_code == 403, f"PATCH as a reader: {r.status_code}")
    check(client.submodels.get_submodel_by_id(SM_ID) == sm, "a refused PATCH changed the submodel")
    check(sdk.put_submodels_by_id(SM_ID, new_sm), "PUT submodel back")

    # --- registry: self-registration and external descriptors ---------------------
    reg = client.shell_registry
    d = reg.get_asset_administration_shell_descriptor_by_id(SHELL_ID)
    check(d is not None and d["idShort"] == "Incubator7", "the new shell registered itself")
    check(d["endpoints"][0]["protocolInformation"]["href"].endswith(f"/shells/{b64(SHELL_ID)}"), f"shell endpoint {d['endpoints']}")
    check([s["id"] for s in d.get("submodelDescriptors", [])] == [SM_ID], "shell descriptor lists its submodel")
    smd = client.submodel_registry.get_submodel_descriptor_by_id(SM_ID)
    check(smd is not None and smd["endpoints"][0]["protocolInformation"]["href"].endswith(f"/submodels/{b64(SM_ID)}"),
          "the new submodel registered itself")
    endpoint = lambda href, iface: [{"interface": iface, "protocolInformation": {"href": href, "endpointProtocol": "HTTP"}}]
    device = {
        "id": DEVICE_ID,
        "idShort": "ExternalScale3",
        "assetKind": "Instance",
        "globalAssetId": "urn:atmpflow:test:client-check:asset:scale-3",
        "endpoints": endpoint("http://scale-3.example.org/api/v3.0/shells/x", "AAS-3.0"),
    }
    out = reg.post_asset_administration_shell_descriptor(device)
    check(out is not None and out["id"] == DEVICE_ID, "POST /shell-descriptors through the client")
    check(reg.post_asset_administration_shell_descriptor(device) is None, "the same descriptor was registered twice")
    device["idShort"] = "ExternalScale3b"
    check(reg.put_asset_administration_shell_descriptor_by_id(DEVICE_ID, device), "PUT /shell-descriptors/{id}")
    check(reg.get_asset_administration_shell_descriptor_by_id(DEVICE_ID)["idShort"] == "ExternalScale3b", "descriptor after PUT")
    dsm = {"id": DEVICE_SM_ID, "idShort": "Calibration",
           "endpoints": endpoint("http://scale-3.example.org/api/v3.0/submodels/y", "SUBMODEL-3.0")}
    check(reg.post_submodel_descriptor_through_superpath(DEVICE_ID, dsm) is not None, "POST submodel descriptor through the shell descriptor")
    subs = reg.get_all_submodel_descriptors_through_superpath(DEVICE_ID)
    check(subs is not None and [s["id"] for s in subs["result"]] == [DEVICE_SM_ID], f"submodel descriptors of the device: {subs}")
    dsm["idShort"] = "Calibration2"
    check(reg.put_submodel_descriptor_by_id_through_superpath(DEVICE_ID, DEVICE_SM_ID, dsm), "PUT submodel descriptor through the superpath")
    got = reg.get_submodel_descriptor_by_id_through_superpath(DEVICE_ID, DEVICE_SM_ID)
    check(got is not None and got["idShort"] == "Calibration2", "submodel descriptor after PUT")
    check(reg.delete_submodel_descriptor_by_id_through_superpath(DEVICE_ID, DEVICE_SM_ID), "DELETE submodel descriptor through the superpath")
    check(reg.get_submodel_descriptor_by_id_through_superpath(DEVICE_ID, DEVICE_SM_ID) is None, "deleted submodel descriptor still there")
    shell_descs = raw.all_pages("/shell-descriptors")
    check(len(shell_descs) == n_shells + 2, f"{len(shell_descs)} shell descriptors, want {n_shells + 2} (shells + external device)")

    smreg = client.submodel_registry
    remote = {"id": REMOTE_SM_ID, "idShort": "Remote",
              "endpoints": endpoint("http://other.example.org/api/v3.0/submodels/z", "SUBMODEL-3.0")}
    check(smreg.post_submodel_descriptor(remote) is not None, "POST /submodel-descriptors")
    remote["idShort"] = "Remote2"
    check(smreg.put_submodel_descriptor_by_id(REMOTE_SM_ID, remote), "PUT /submodel-descriptors/{id}")
    check(smreg.get_submodel_descriptor_by_id(REMOTE_SM_ID)["idShort"] == "Remote2", "submodel descriptor after PUT")
    sm_descs = raw.all_pages("/submodel-descriptors")
    check(len(sm_descs) == n_sms + 2, f"{len(sm_descs)} submodel descriptors, want {n_sms + 2}")
    check(smreg.delete_submodel_descriptor_by_id(REMOTE_SM_ID), "DELETE /submodel-descriptors/{id}")
    check(smreg.get_submodel_descriptor_by_id(REMOTE_SM_ID) is None, "deleted submodel descriptor still there")

    # --- discovery ------------------------------------------------------------------
    def lookup(name: str, value: str) -> list:
        q = b64(json.dumps({"name": name, "value": value}))
        return raw.json("/lookup/shells", params={"assetIds": q})["result"]

    check(lookup("globalAssetId", ASSET_ID) == [SHELL_ID], "the shell is found by its global asset id")
    check(lookup("serialNumber", "INC-7-2026") == [SHELL_ID], "the shell is found by its serial number")
    links = raw.json(f"/lookup/shells/{b64(SHELL_ID)}")
    check(sorted((l["name"], l["value"]) for l in links) == [("globalAssetId", ASSET_ID), ("serialNumber", "INC-7-2026")],
          f"links of the shell: {links}")
    new_links = [{"name": "rfid", "value": "E200-3412-0001"}, {"name": "serialNumber", "value": "SC3-0042"}]
    r = raw.req("POST", f"/lookup/shells/{b64(DEVICE_ID)}", json=new_links)
    check(r.status_code == 201, f"POST /lookup/shells/{{id}}: {r.status_code} {r.text[:200]}")
    check(lookup("rfid", "E200-3412-0001") == [DEVICE_ID], "the device is found by its RFID link")
    got = raw.json(f"/lookup/shells/{b64(DEVICE_ID)}")
    check(sorted((l["name"], l["value"]) for l in got) == [("rfid", "E200-3412-0001"), ("serialNumber", "SC3-0042")], f"device links {got}")
    # every link GET lists is removed by DELETE, and the shell is no longer found by them
    check(raw.status("DELETE", f"/lookup/shells/{b64(SHELL_ID)}") == 204, "DELETE /lookup/shells/{id} of a shell's own links")
    check(lookup("globalAssetId", ASSET_ID) == [], "the shell is still found after its links were deleted")
    check(raw.status("GET", f"/lookup/shells/{b64(SHELL_ID)}") == 404, "GET links after DELETE: not 404")
    check(raw.status("DELETE", f"/lookup/shells/{b64(DEVICE_ID)}") == 204, "DELETE /lookup/shells/{id}")
    check(lookup("rfid", "E200-3412-0001") == [], "the device is still found after DELETE")
    r = raw.req("DELETE", f"/lookup/shells/{b64(DEVICE_ID)}")
    check(r.status_code == 404, f"second DELETE of links: {r.status_code}")
    error_text(r)
    # changing the shell links its asset ids again
    shell = sdk.get_asset_administration_shell_by_id(SHELL_ID)
    check(sdk.put_asset_administration_shell_by_id(SHELL_ID, shell), "PUT shell again")
    check(lookup("globalAssetId", ASSET_ID) == [SHELL_ID], "the changed shell is not found by its global asset id")

    # --- read everything back and verify every object ---------------------------------
    shells = all_shells(sdk)
    submodels = all_submodels(sdk)
    check(len(shells) == n_shells + 1 and len(submodels) == n_sms + 1, "counts before the read-back")
    for s in shells:
        verify_core("shell", client.shells.get_asset_administration_shell_by_id(s.id))
    for s in submodels:
        verify_core("submodel", client.submodels.get_submodel_by_id(s.id))
    r = raw.req("GET", "/serialization")
    check(r.status_code == 200, "GET /serialization")
    data = r.json()
    try:
        env = jsonization.environment_from_jsonable(data)
    except jsonization.DeserializationException as e:
        check(False, f"aas-core3.0 cannot read the serialization: {e.path}: {e.cause}")
    errors = [f"{e.path}: {e.cause}" for e in verification.verify(env)]
    check(not errors, f"aas-core3.0 verification of the serialization: {errors[:3]}")
    store = read_aas_json_file(io.StringIO(r.text), failsafe=False)
    got = (
        sum(1 for o in store if isinstance(o, model.AssetAdministrationShell)),
        sum(1 for o in store if isinstance(o, model.Submodel)),
    )
    check(got == (n_shells + 1, n_sms + 1), f"basyx read {got} shells/submodels from /serialization")
    mine = store.get_item(SM_ID)
    check(mine.get_referable("Temperature").value == 37.0, "basyx: Temperature after the PUT of the submodel")
    n_cds = len(data.get("conceptDescriptions", []))

    # --- delete: reference, submodel, shell, descriptor --------------------------------
    check(sdk.delete_submodel_reference_by_id_aas_repository(SHELL_ID, SM_ID), "DELETE submodel-refs through the client")
    check(sdk.get_all_submodel_references_aas_repository(SHELL_ID).results == [], "reference still there")
    check(sdk.delete_submodel_by_id(SM_ID), "DELETE submodel through the client")
    check(client.submodels.get_submodel_by_id(SM_ID) is None, "deleted submodel still there")
    check(client.submodel_registry.get_submodel_descriptor_by_id(SM_ID) is None, "deleted submodel still registered")
    check(sdk.delete_asset_administration_shell_by_id(SHELL_ID), "DELETE shell through the client")
    check(sdk.get_asset_administration_shell_by_id(SHELL_ID) is None, "deleted shell still there")
    check(reg.get_asset_administration_shell_descriptor_by_id(SHELL_ID) is None, "deleted shell still registered")
    check(lookup("globalAssetId", ASSET_ID) == [], "deleted shell still discoverable")
    check(not sdk.delete_asset_administration_shell_by_id(SHELL_ID), "second DELETE of the shell succeeded")
    check(raw.status("DELETE", f"/shells/{b64(SHELL_ID)}") == 404, "second DELETE of the shell: not 404")
    check(reg.delete_asset_administration_shell_descriptor_by_id(DEVICE_ID), "DELETE /shell-descriptors/{id}")
    check(len(all_shells(sdk)) == n_shells and len(all_submodels(sdk)) == n_sms, "counts after the deletes")
    check(len(raw.all_pages("/shell-descriptors")) == n_shells, "shell descriptors after the deletes")

    print(f"aas-http-client check: {STEPS} assertions passed ({n_shells} shells, {n_sms} submodels, "
          f"{n_cds} concept descriptions read back and verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
