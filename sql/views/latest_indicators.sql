-- The latest period of each indicator for each service (its 12-month figure where a
-- 3-month one ends in the same month), with its funnel band.
CREATE OR REPLACE VIEW latest_indicators AS
SELECT s.yjs_name, iv.*
FROM indicator_values AS iv
JOIN services AS s USING (yjs_id)
QUALIFY row_number() OVER (PARTITION BY iv.yjs_id, iv.indicator ORDER BY iv.period_end DESC, iv.period_months DESC) = 1
