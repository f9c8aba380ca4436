cpdef withheld_on(hours, day, contract_period, eligible, permanent_hire_date=*, months_counted=*)
