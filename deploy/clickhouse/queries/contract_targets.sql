-- Each contract's current target (declared, or computed by the rulebook from its amount).
SELECT contract_id, target_hours FROM contracts ORDER BY contract_id
