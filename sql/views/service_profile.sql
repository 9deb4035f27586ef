-- One row per service: who it is, where it stands in the latest ranked list,
-- its latest period of each indicator compared with national (rate vs national, z,
-- funnel band; a NULL rate is a suppressed figure, or an empty cohort's; a period with
-- no national rate only where it has no other: the view latest_indicators, created
-- before this one, as the views are in name order) and its last inspection.
CREATE OR REPLACE VIEW service_profile AS
WITH latest AS (
    SELECT yjs_id, indicator, period_end, rate, national_rate, z_score, funnel_band
    FROM latest_indicators
),
last_inspection AS (
    SELECT yjs_id, published, inspection_type, overall_rating
    FROM inspections
    QUALIFY row_number() OVER (PARTITION BY yjs_id ORDER BY published DESC) = 1
)
SELECT s.yjs_id, s.yjs_name, s.region, s.country, s.la_codes, s.population_10_17,
       t.as_of, t.rank, t.recommendation, t.concern_score, t.rank_low, t.rank_high,
       f.period_end AS fte_period_end, f.rate AS fte_rate, f.national_rate AS fte_national_rate,
       f.z_score AS fte_z, f.funnel_band AS fte_band,
       r.period_end AS reoffending_period_end, r.rate AS reoffending_rate,
       r.national_rate AS reoffending_national_rate, r.z_score AS reoffending_z,
       r.funnel_band AS reoffending_band,
       c.period_end AS custody_period_end, c.rate AS custody_rate,
       c.national_rate AS custody_national_rate, c.z_score AS custody_z, c.funnel_band AS custody_band,
       i.published AS last_inspected, i.inspection_type AS last_inspection_type,
       i.overall_rating AS last_rating, t.months_since_inspection, t.reasons
FROM services AS s
LEFT JOIN inspection_targets AS t ON t.yjs_id = s.yjs_id
LEFT JOIN latest AS f ON f.yjs_id = s.yjs_id AND f.indicator = 'fte'
LEFT JOIN latest AS r ON r.yjs_id = s.yjs_id AND r.indicator = 'reoffending'
LEFT JOIN latest AS c ON c.yjs_id = s.yjs_id AND c.indicator = 'custody'
LEFT JOIN last_inspection AS i ON i.yjs_id = s.yjs_id
ORDER BY t.rank
