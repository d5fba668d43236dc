"""One module per part of the API: OAuth and versions, query, composite, sObjects (describe, rows,
replication), sObject Collections, Tooling, limits, and the sandbox's own `/_sandbox` routes."""
