"""geo.store's tables: what write_table writes is what DataFrame.to_parquet writes, and reads back."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.store import read_table, write_table


def _table() -> gpd.GeoDataFrame:
    n = 3000  # more rows than 100 per column: pyarrow would convert the columns on a pool of threads
    rng = np.random.default_rng(5)
    return gpd.GeoDataFrame(
        {
            "name": pd.Series([f"路{i}" if i % 7 else None for i in range(n)], dtype="str"),
            "tags": [["a", i] if i % 3 else None for i in range(n)],
            "people": rng.uniform(0, 100, n),
            "count": np.arange(n),
        },
        geometry=shapely.points(rng.uniform(120, 121, n), rng.uniform(30, 31, n)),
        crs=4326,
    )


def test_write_table_writes_the_bytes_to_parquet_writes(tmp_path):
    gdf = _table()
    entry = write_table(tmp_path / "a.parquet", gdf)
    # the same conversion by hand, written by pandas
    df = pd.DataFrame(gdf).copy()
    df["tags"] = [json.dumps(v, ensure_ascii=False) for v in df["tags"]]
    df["geometry"] = shapely.to_wkb(np.asarray(gdf.geometry.values, dtype=object))
    df.to_parquet(tmp_path / "b.parquet", index=False)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert entry["json_columns"] == ["tags"]
    back = read_table(tmp_path / "a.parquet", entry)
    assert [None if v is None else list(v) for v in back["tags"]] == gdf["tags"].tolist()  # (lists come back as tuples)
    assert back["name"].tolist() == gdf["name"].tolist()
    assert np.array_equal(back["people"].to_numpy(), gdf["people"].to_numpy())
    assert shapely.equals_exact(back.geometry.values, gdf.geometry.values, tolerance=0).all()
