"""Everything outside the workflows: the client facade (`client`), the `cxsla` CLI (`cli`), the HTTP API (`api`)
and the wiring they share (`service`)."""
