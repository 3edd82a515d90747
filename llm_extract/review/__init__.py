"""Review what the extractor is unsure of: corrections kept beside the extraction.

- :mod:`.paths`       field paths (``items[0].quantity``): get/set in a record's JSON,
                      the editable fields and their types, from the pydantic models;
- :mod:`.corrections` the ``corrections`` and ``letter_reviews`` tables in the batch
                      store, and applying them to a record (applied / stale);
- :mod:`.queue`       which letters to look at first, with their reasons;
- :mod:`.text`        the letter text and its evidence highlights;
- :mod:`.app`         the Starlette app (routes); :mod:`.access` the token gate;
- :mod:`.server`      uvicorn on 127.0.0.1 only;
- :mod:`.gold`        reviewed letters as gold fixtures;
- :mod:`.labelstudio` Label Studio tasks out, its annotations back in.

Only :mod:`.app`, :mod:`.access` and :mod:`.server` import Starlette / uvicorn
(the ``review`` extra): exports, stats, gold fixtures and the Label Studio
files work without it.
"""
