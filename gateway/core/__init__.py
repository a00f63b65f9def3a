"""The versioning engine. Pure: no aiohttp, no lmdb, no aiobotocore."""
