-- Over-dispersion in each indicator's latest period compared with national: how much
-- wider than chance the spread between services is (phi) and the random-effects tau^2
-- (a later period with no national rate, one service's own, has none).
SELECT indicator, period_end, period_months, n_services, round(national_rate, 3) AS national_rate,
       round(phi, 2) AS phi, round(tau2, 4) AS tau2, adjusted
FROM indicator_dispersion
WHERE national_rate IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY indicator ORDER BY period_end DESC, period_months DESC) = 1
ORDER BY indicator
