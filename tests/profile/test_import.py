"""`tourcrm import customers FILE.csv` (services/profile/commands.py), run through its typer app against a running service."""

from __future__ import annotations

import asyncio
import csv
import json

from typer.testing import CliRunner

from services.profile.commands import app
from services.profile.importer import COLUMNS
from tests.conftest import Backend


async def test_import_dedupes_reports_bad_rows_and_keeps_going(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    profile = await backend.service("profile")
    existing = (await profile.client.post("/v1/customers", json={"name": "老客户", "phones": ["13300000001"]})).json()["id"]
    rows = []
    for n in range(240):
        rows.append({"name": f"导入客户{n}", "phone": f"+86 135 {n:04d} 0000", "email": f"user{n}@Example.com",
                     "gender": "female" if n % 2 else "male", "birth_date": "1990-01-01", "city": "上海",
                     "interests": "nature;food", "tags": "import", "source": "store", "external_id": f"ST-{n}"})
    rows.append({"name": "老客户", "phone": "133-0000-0001"})                    # line 242: the existing file
    rows.append({"name": "重复", "phone": "13500050000"})                        # line 243: row 5, another format
    rows.append({"name": "重复2", "email": "USER7@example.com"})                 # line 244: row 7 by email
    rows.append({"name": "坏电话", "phone": "12345"})                            # line 245
    rows.append({"name": "坏邮箱", "email": "nobody@"})                          # line 246
    rows.append({"name": "坏生日", "phone": "13900000002", "birth_date": "1990-13-40"})  # line 247
    rows.append({"name": "", "phone": ""})                                       # line 248: nothing to go on
    rows.append({"name": "坏类型", "phone": "13900000003", "kind": "robot"})     # line 249
    rows.append({"name": "最后一行", "phone": "13900000004"})                    # line 250: still imported
    path = tmp_path / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    env = {"TOURCRM_DATABASE_URL": profile.runtime.settings.db_url, "TOURCRM_ENVIRONMENT": "test"}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["customers", str(path), "--json", "--batch-size", "100"],
                                     env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["rows"], report["created"], report["matched"]) == (249, 241, 3)
    assert {(r["line"], r["field"]) for r in report["rejected"]} == {
        (245, "phone"), (246, "email"), (247, "birth_date"), (248, "name"), (249, "kind")}
    assert "not a valid phone number" in next(r["reason"] for r in report["rejected"] if r["line"] == 245)

    found = await profile.client.post("/v1/customers/resolve", json={"phones": ["13500050000"], "create": False})
    assert found.status_code == 200
    assert found.json()["name"] == "导入客户5" and found.json()["origin"] == "import"
    assert {"source": "store", "id": "ST-5"} in found.json()["external_ids"]
    old = await profile.client.post("/v1/customers/resolve", json={"phones": ["13300000001"], "create": False})
    assert old.json()["id"] == existing
    last = await profile.client.post("/v1/customers/resolve", json={"phones": ["13900000004"], "create": False})
    assert last.status_code == 200

    # human-readable output names the line and column of each rejected row; unknown columns stop before importing
    result = await asyncio.to_thread(CliRunner().invoke, app, ["customers", str(path)], env=env)
    assert "line 245: phone: " in result.stdout and "matched existing 244" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("name,shoe_size\n张三,42\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["customers", str(bad)], env=env)
    assert result.exit_code == 2 and "unknown columns: shoe_size" in result.output
