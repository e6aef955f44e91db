"""pagoPA's ACA (Archivio Centralizzato Avvisi), simulated: ``gpd-4-aca.json``'s operations on
an in-memory archive of debt positions, as intermediaries feed it for Stand-In.

Routes (under ``/aca/debt-positions-service/v1``): POST/GET ``/organizations/{org}/debtpositions``,
GET/PUT/DELETE ``.../debtpositions/{iupd}``, POST ``.../{iupd}/publish`` and
``.../{iupd}/invalidate``, POST ``/organizations/{org}/paymentoptions/paids/{nav}``. The key
is ``Ocp-Apim-Subscription-Key`` (``nodesim.rest_key``; 401 without it). Answers and errors
are the document's (``ProblemJson``: title, status, detail; 400, 401, 404, 409).

Bulk v2 (``gpd-4-aca_massive_v2.json``, under ``/upload/aca/debt-positions-service/v2``):
POST (create), PUT (update), DELETE ``/brokers/{broker}/organizations/{org}/debtpositions/file``
take a multipart ``file``: a zip whose first ``.json`` entry is pagoPA's ``PaymentPositionsModel``
(``{"paymentPositions": [PaymentPositionModel...]}``; DELETE: ``{"paymentPositionIUPDs": [...]}``),
as pagopa-gpd-upload reads it. The answer is 202 with ``Location: .../file/{id}/status`` and
``Retry-After``; GET ``.../file/{id}/status`` answers ``UploadStatus`` (uploadID, processedItem,
submittedItem, startTime, operationStatus IN_PROGRESS / COMPLETED / COMPLETED_WITH_WARNINGS /
COMPLETED_UNSUCCESSFULLY), GET ``.../file/{id}/report`` ``UploadReportDTO`` (fileId, items,
``responses``: statusCode, statusMessage and the IUPDs it applies to; 425 while in progress).
Each position of a file is handled as the one-by-one operation would (created published).

Faults (``POST /api/aca/faults``): ``fail`` the next N calls with ``status`` (500, 429...),
``slow_seconds`` before answering; for files, ``upload_polls`` (status polls answered
IN_PROGRESS before a file is processed) and ``refuse_iupds`` (positions a file's processing
answers 500 for). ``GET /api/aca/positions`` shows the archive, the files and every call.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import threading
import time
import uuid
import zipfile
from typing import Any

BASE = "/aca/debt-positions-service/v1"
BASE_V2 = "/upload/aca/debt-positions-service/v2"
FILE_OPS = {"POST": "create", "PUT": "update", "DELETE": "delete"}
MAX_ZIP_CONTENT = 50 * 1024 * 1024
POSITION_REQUIRED = ("iupd", "type", "fiscalCode", "fullName", "companyName", "switchToExpired")
OPTION_REQUIRED = ("iuv", "amount", "description", "isPartialPayment", "dueDate")
TRANSFER_REQUIRED = ("idTransfer", "amount", "remittanceInformation", "category")


class AcaProblem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail

    @property
    def body(self) -> dict[str, Any]:
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            409: "Conflict",
            425: "Too Early",
        }
        return {
            "title": titles.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }


def _check(body: Any) -> dict[str, Any]:
    """What the document requires of a ``PaymentPositionModel`` (the rest is taken as is)."""
    if not isinstance(body, dict):
        raise AcaProblem(400, "the body is not a PaymentPositionModel")
    missing = [k for k in POSITION_REQUIRED if k not in body]
    if missing:
        raise AcaProblem(400, f"missing {', '.join(missing)}")
    for i, option in enumerate(body.get("paymentOption") or []):
        missing = [k for k in OPTION_REQUIRED if k not in option]
        if missing:
            raise AcaProblem(400, f"paymentOption[{i}]: missing {', '.join(missing)}")
        transfers = option.get("transfer") or []
        if not 1 <= len(transfers) <= 5:
            raise AcaProblem(400, f"paymentOption[{i}]: 1 to 5 transfers")
        for j, t in enumerate(transfers):
            missing = [k for k in TRANSFER_REQUIRED if k not in t]
            if missing:
                raise AcaProblem(400, f"paymentOption[{i}].transfer[{j}]: missing {missing}")
        if sum(int(t["amount"]) for t in transfers) != int(option["amount"]):
            raise AcaProblem(400, f"paymentOption[{i}]: transfers do not add up to the amount")
    return body


class Aca:
    """The archive: (org, iupd) -> position (with status and paid notices)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.positions: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._fail = 0
        self._fail_status = 500
        self.slow_seconds = 0.0
        self.files: dict[str, dict[str, Any]] = {}
        self.upload_polls = 0
        self.refuse_iupds: set[str] = set()

    # --- control -------------------------------------------------------------------------------

    def faults(
        self,
        fail: int = 0,
        status: int = 500,
        slow_seconds: float = 0.0,
        upload_polls: int = 0,
        refuse_iupds: list[str] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            self._fail, self._fail_status, self.slow_seconds = fail, status, slow_seconds
            self.upload_polls, self.refuse_iupds = upload_polls, set(refuse_iupds or ())
        return {
            "fail": fail,
            "status": status,
            "slowSeconds": slow_seconds,
            "uploadPolls": upload_polls,
            "refuseIupds": sorted(self.refuse_iupds),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "positions": [copy.deepcopy(p) for p in self.positions.values()],
                "files": [
                    {
                        k: v.isoformat() if isinstance(v, dt.datetime) else v
                        for k, v in f.items()
                        if k != "items"
                    }
                    for f in self.files.values()
                ],
                "calls": list(self.calls),
            }

    def by_notice(self, org: str, nav: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The position and option ACA holds for a notice (what Stand-In pays from)."""
        with self._lock:
            for (o, _), position in self.positions.items():
                if o != org:
                    continue
                for option in position.get("paymentOption", []):
                    if option.get("nav") == nav or "3" + str(option.get("iuv")) == nav:
                        return copy.deepcopy(position), copy.deepcopy(option)
        return None

    # --- the API -------------------------------------------------------------------------------

    def handle(
        self, method: str, op: str, org: str, headers: dict[str, str], **kw: Any
    ) -> tuple[int, Any]:
        """Answer one call: (HTTP status, JSON body)."""
        if self.slow_seconds:
            time.sleep(self.slow_seconds)
        with self._lock:
            self.calls.append(
                {
                    "method": method,
                    "op": op,
                    "org": org,
                    **{k: v for k, v in kw.items() if k not in ("body", "content")},
                }
            )
            if self.key and headers.get("Ocp-Apim-Subscription-Key") != self.key:
                return 401, {
                    "statusCode": 401,
                    "message": "Access denied due to invalid subscription key",
                }
            if self._fail:
                self._fail -= 1
                return self._fail_status, AcaProblem(self._fail_status, "injected fault").body
            try:
                return getattr(self, f"_{op}")(org, **kw)
            except AcaProblem as problem:
                return problem.status, problem.body

    def _get(self, org: str, iupd: str) -> dict[str, Any]:
        position = self.positions.get((org, iupd))
        if position is None:
            raise AcaProblem(404, f"Debt position {iupd} not found")
        return position

    def _create(self, org: str, body: Any, publish: bool) -> tuple[int, Any]:
        body = _check(body)
        if (org, body["iupd"]) in self.positions:
            raise AcaProblem(409, f"Debt position {body['iupd']} already exists")
        navs = {"3" + str(o["iuv"]) for o in body.get("paymentOption", [])}
        for (o, _), other in self.positions.items():
            if o == org and navs & {"3" + str(x["iuv"]) for x in other.get("paymentOption", [])}:
                raise AcaProblem(409, "an IUV of this position already exists")
        position = self._stored(body, "VALID" if publish else "DRAFT", paid=[])
        self.positions[(org, body["iupd"])] = position
        return 201, position

    def _update(self, org: str, iupd: str, body: Any, publish: bool) -> tuple[int, Any]:
        old = self._get(org, iupd)
        if old["status"] in ("INVALID", "PAID"):
            raise AcaProblem(409, f"Debt position {iupd} is {old['status']}")
        body = _check({**body, "iupd": iupd})
        status = "VALID" if publish or old["status"] == "VALID" else "DRAFT"
        self.positions[(org, iupd)] = self._stored(body, status, paid=old["paid"])
        return 200, self.positions[(org, iupd)]

    def _read(self, org: str, iupd: str) -> tuple[int, Any]:
        return 200, self._get(org, iupd)

    def _delete(self, org: str, iupd: str) -> tuple[int, Any]:
        self._get(org, iupd)
        del self.positions[(org, iupd)]
        return 200, "OK"

    def _publish(self, org: str, iupd: str) -> tuple[int, Any]:
        position = self._get(org, iupd)
        if position["status"] != "DRAFT":
            raise AcaProblem(409, f"Debt position {iupd} is not in DRAFT")
        position["status"] = "VALID"
        return 200, position

    def _invalidate(self, org: str, iupd: str) -> tuple[int, Any]:
        position = self._get(org, iupd)
        if position["status"] != "VALID":
            raise AcaProblem(409, f"Debt position {iupd} is not VALID")
        position["status"] = "INVALID"
        return 200, position

    def _paid(self, org: str, nav: str, body: Any) -> tuple[int, Any]:
        for (o, _), position in self.positions.items():
            if o != org:
                continue
            for option in position.get("paymentOption", []):
                if "3" + str(option["iuv"]) == nav or option.get("nav") == nav:
                    if nav in position["paid"]:
                        raise AcaProblem(409, f"the notice {nav} is already paid")
                    position["paid"].append(nav)
                    when = (body or {}).get("paymentDate") or dt.datetime.now(dt.UTC).isoformat()
                    option["paymentDate"] = when
                    return 200, {
                        "nav": nav,
                        "iuv": option["iuv"],
                        "status": "PO_PAID",
                        "paymentDate": when,
                    }
        raise AcaProblem(404, f"no notice {nav}")

    # --- bulk v2: files ---------------------------------------------------------------------------

    def _upload(self, org: str, broker: str, verb: str, content: bytes | None) -> tuple[int, Any]:
        """Accept a file: 202 with where its status is; processed when polled (``upload_polls``)."""
        if content is None:
            raise AcaProblem(400, "The zip file is missing")
        items = _unzip(content, "paymentPositionIUPDs" if verb == "DELETE" else "paymentPositions")
        file_id = uuid.uuid4().hex
        self.files[file_id] = {
            "uploadID": file_id,
            "broker": broker,
            "org": org,
            "operation": FILE_OPS[verb],
            "items": items,
            "submittedItem": len(items),
            "processedItem": 0,
            "startTime": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "endTime": None,
            "responses": None,
            "pollsLeft": self.upload_polls,
        }
        where = f"brokers/{broker}/organizations/{org}/debtpositions/file/{file_id}/status"
        return 202, {"location": where, "uploadID": file_id}

    def _file(self, org: str, broker: str, file_id: str) -> dict[str, Any]:
        upload = self.files.get(file_id)
        if upload is None or (upload["org"], upload["broker"]) != (org, broker):
            raise AcaProblem(404, f"Upload {file_id} not found")
        return upload

    def _file_status(self, org: str, broker: str, file_id: str) -> tuple[int, Any]:
        upload = self._file(org, broker, file_id)
        if upload["responses"] is None:
            if upload["pollsLeft"] > 0:
                upload["pollsLeft"] -= 1
            else:
                self._process(upload)
        return 200, {
            "uploadID": file_id,
            "processedItem": upload["processedItem"],
            "submittedItem": upload["submittedItem"],
            "startTime": upload["startTime"].strftime("%Y-%m-%d %H:%M:%S"),
            "operationStatus": _operation_status(upload["responses"]),
        }

    def _file_report(self, org: str, broker: str, file_id: str) -> tuple[int, Any]:
        upload = self._file(org, broker, file_id)
        if upload["responses"] is None:
            raise AcaProblem(425, f"Upload {file_id} is still in progress")
        return 200, {
            "fileId": file_id,
            "processedItem": upload["processedItem"],
            "submittedItem": upload["submittedItem"],
            "responses": upload["responses"],
            "startTime": upload["startTime"].isoformat(timespec="milliseconds"),
            "endTime": upload["endTime"].isoformat(timespec="milliseconds"),
        }

    def _process(self, upload: dict[str, Any]) -> None:
        """Each item as its one-by-one operation; answers grouped by (code, message)."""
        grouped: dict[tuple[int, str], list[str]] = {}
        org = upload["org"]
        for item in upload["items"]:
            iupd = str(item if upload["operation"] == "delete" else item.get("iupd"))
            try:
                if iupd in self.refuse_iupds:
                    raise AcaProblem(500, "injected fault")
                if upload["operation"] == "create":
                    code, _ = self._create(org, item, publish=True)
                elif upload["operation"] == "update":
                    code, _ = self._update(org, iupd, item, publish=True)
                else:
                    code, _ = self._delete(org, iupd)
                message = {201: "Created", 200: "OK"}.get(code, "OK")
            except AcaProblem as problem:
                code, message = problem.status, problem.detail
            except (TypeError, ValueError, KeyError, AttributeError):
                code, message = 400, "not a PaymentPositionModel"
            grouped.setdefault((code, message), []).append(iupd)
        upload["responses"] = [
            {"statusCode": code, "statusMessage": message, "iupds": iupds}
            for (code, message), iupds in grouped.items()
        ]
        upload["processedItem"] = len(upload["items"])
        upload["endTime"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def _files(self, org: str, broker: str) -> tuple[int, Any]:
        ids = [k for k, f in self.files.items() if (f["org"], f["broker"]) == (org, broker)]
        return 200, {"fileIds": ids, "size": len(ids)}

    def _list(self, org: str) -> tuple[int, Any]:
        items = [p for (o, _), p in self.positions.items() if o == org]
        return 200, {
            "payment_position_list": items,
            "page_info": {
                "page": 0,
                "limit": len(items),
                "items_found": len(items),
                "total_pages": 1,
            },
        }

    @staticmethod
    def _stored(body: dict[str, Any], status: str, paid: list[str]) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        for option in stored.get("paymentOption", []):
            option.setdefault("nav", "3" + str(option["iuv"]))
        stored["status"] = status
        stored["paid"] = list(paid)
        return stored


def _unzip(content: bytes, key: str) -> list[Any]:
    """The items of an uploaded zip's first ``.json`` entry, as pagopa-gpd-upload reads it."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = [e for e in archive.infolist() if not e.is_dir()]
            if not entries:
                raise AcaProblem(400, "No valid file found in ZIP.")
            first = entries[0]
            if not first.filename.endswith(".json"):
                raise AcaProblem(400, "ZIP contains unsupported file type.")
            if first.file_size > MAX_ZIP_CONTENT:
                raise AcaProblem(400, "Unzipped content exceeds size limit.")
            document = json.loads(archive.read(first))
    except (zipfile.BadZipFile, EOFError):
        raise AcaProblem(400, "Only ZIP files can be uploaded.") from None
    except (UnicodeDecodeError, ValueError):
        raise AcaProblem(400, "Given JSON is invalid for required API payload") from None
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        raise AcaProblem(400, "The format of the debt positions in the uploaded file is invalid.")
    return items


def _operation_status(responses: list[dict[str, Any]] | None) -> str:
    if responses is None:
        return "IN_PROGRESS"
    ok = [200 <= r["statusCode"] < 300 for r in responses]
    if all(ok):
        return "COMPLETED"
    return "COMPLETED_WITH_WARNINGS" if any(ok) else "COMPLETED_UNSUCCESSFULLY"


def payment_data(position: dict[str, Any], option: dict[str, Any]) -> Any:
    """ACA's copy of a notice as the ``data`` of a paGetPaymentV2 answer: what the Node pays
    from in Stand-In, every transfer with its beneficiary and account."""
    from decimal import Decimal

    from lxml import etree

    from nodesim import soapwire
    from nodesim.soapwire import sub

    def euros(cents: Any) -> str:
        return f"{Decimal(int(cents)) / 100:.2f}"

    data = etree.Element("data")
    sub(data, "creditorReferenceId", option["iuv"])
    sub(data, "paymentAmount", euros(option["amount"]))
    sub(data, "dueDate", str(option["dueDate"])[:10])
    sub(data, "description", option.get("description") or "-")
    sub(data, "companyName", position.get("companyName") or "-")
    if position.get("officeName"):
        sub(data, "officeName", position["officeName"])
    soapwire.subject(
        data,
        "debtor",
        {
            "type": position.get("type", "F"),
            "id": position["fiscalCode"],
            "name": position["fullName"],
            "street": position.get("streetName"),
            "postal_code": position.get("postalCode"),
            "city": position.get("city"),
            "province": position.get("province"),
            "country": position.get("country"),
            "email": position.get("email"),
        },
    )
    transfers = sub(data, "transferList")
    for t in sorted(option.get("transfer", []), key=lambda t: int(t["idTransfer"])):
        tr = sub(transfers, "transfer")
        sub(tr, "idTransfer", t["idTransfer"])
        sub(tr, "transferAmount", euros(t["amount"]))
        sub(tr, "fiscalCodePA", t.get("organizationFiscalCode") or "")
        if t.get("companyName"):
            sub(tr, "companyName", t["companyName"])
        sub(tr, "IBAN", t.get("iban") or t.get("postalIban") or "")
        sub(tr, "remittanceInformation", t["remittanceInformation"])
        sub(tr, "transferCategory", t["category"])
    return data
