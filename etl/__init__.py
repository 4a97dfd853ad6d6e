"""One-way import of ERP CSV exports into a tenant portal database."""
