"""The admin API (`/admin/api/v1`) and dashboard (`/admin`): reports, exports, broadcasts."""
