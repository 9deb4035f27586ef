"""What analysts and inspectors see: plots, exports, the Markdown shown in
the Dagster UI, and the data-quality rules behind the asset checks. Plain
functions on DataFrames; nothing here knows Dagster."""
