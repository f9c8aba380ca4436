-- The buyer's workbook and the open data: the store's reference date ("to date": ledger_as_of,
-- today unless pinned in ledger_settings), the default end of a period.
SELECT as_of FROM ledger_as_of
