-- The latest period of each indicator for each service, with its funnel band.
CREATE OR REPLACE VIEW latest_indicators AS
SELECT s.yjs_name, iv.*
FROM indicator_values AS iv
JOIN services AS s USING (yjs_id)
QUALIFY row_number() OVER (PARTITION BY iv.yjs_id, iv.indicator ORDER BY iv.period_end DESC) = 1
