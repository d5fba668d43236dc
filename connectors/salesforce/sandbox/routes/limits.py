"""`GET limits`: the org's allocations and what is left ("Limits", REST API Developer Guide)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.runtime import RuntimeDep

router = APIRouter(prefix=DATA)


@router.get("/limits")
def limits(runtime: RuntimeDep) -> dict[str, Any]:
    allocation = runtime.allocation
    return {
        "DailyApiRequests": {
            "Max": allocation.maximum,
            "Remaining": max(allocation.maximum - allocation.used(), 0),
        },
        "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
        "FileStorageMB": {"Max": 20, "Remaining": 20},
    }
