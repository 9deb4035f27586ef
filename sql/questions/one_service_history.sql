-- One service's figures over time against national (change the name).
SELECT v.indicator, v.period_end, v.period_months, v.numerator, v.denominator,
       round(v.rate, 2) AS rate, round(v.national_rate, 2) AS national_rate,
       round(v.z_score, 2) AS z_score, v.funnel_band
FROM indicator_values AS v
JOIN services AS s USING (yjs_id)
WHERE s.yjs_name = 'Leeds'
ORDER BY v.indicator, v.period_end
