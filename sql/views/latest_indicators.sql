-- The latest period of each indicator for each service compared with national (its
-- 12-month figure where a 3-month one ends in the same month), with its funnel band. A
-- later period with no national rate (the service's own, off the others' grid) is shown
-- only where the service has no compared one.
CREATE OR REPLACE VIEW latest_indicators AS
SELECT s.yjs_name, iv.*
FROM indicator_values AS iv
JOIN services AS s USING (yjs_id)
QUALIFY row_number() OVER (PARTITION BY iv.yjs_id, iv.indicator
                           ORDER BY iv.national_rate IS NULL, iv.period_end DESC, iv.period_months DESC) = 1
