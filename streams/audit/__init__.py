"""The auditors' and facilitators' tools, reading what the pipeline wrote:

- `tools`: read-only SQL (`ledger sql`) and the reconciliation of the store with Kafka (`ledger reconcile`);
- `sql_guard`: what a read-only statement may contain;
- `replay`: the ledger's history decided again under another rulebook, into a database of its own;
- `report`, `report_html`, `workbook`, `open_data`: progress as text, an HTML report, the buyer's
  workbook and the open-data package.
"""
