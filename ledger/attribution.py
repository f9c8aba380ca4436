"""Attribution: turn a countable timesheet into the ledger entry that credits every party."""

from __future__ import annotations

from ledger.entries import EntryKind, LedgerEntry, entry_id
from ledger.events import ContractRegistered, TimesheetSubmitted
from ledger.rules import ELIGIBLE_ON_CONTRACT, Rulebook


def attribute(timesheet: TimesheetSubmitted, contract: ContractRegistered, rulebook: Rulebook) -> LedgerEntry:
    """Credit the hours to the contract, its operation and programme, its contractor, the
    beneficiary and, when a partner delivered them, the SIAE/GEIQ partner: one entry carries all
    of them so that every roll-up sums the same rows."""
    return LedgerEntry(
        entry_id=entry_id(timesheet.event_id, EntryKind.CREDIT),
        kind=EntryKind.CREDIT,
        source_event_id=timesheet.event_id,
        programme_id=contract.programme_id,
        operation_id=contract.operation_id,
        contract_id=contract.contract_id,
        lot=contract.lot,
        contractor_siret=contract.contractor_siret,
        beneficiary_id=timesheet.beneficiary_id,
        siae_siret=timesheet.siae_siret,
        mode=timesheet.mode.value,
        work_date=timesheet.work_date,
        hours=timesheet.hours,
        rule=ELIGIBLE_ON_CONTRACT,
        rulebook_version=rulebook.version,
        submitted_at=timesheet.submitted_at,
    )
