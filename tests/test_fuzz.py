"""The fuzz target in small, with a fixed seed: no crash, hang, nondeterministic decode, or exception
other than a BitstreamError naming its codec, on mutated streams of classical, command-line, learned
(CRC off: the length and size checks alone) and DiffC codecs. `make fuzz` is the full run."""

from __future__ import annotations

from rdpbench.fuzz import FAILING, OUTCOMES, fuzz, mutate, mutated_streams

CODECS = ["jpeg", "jpegxl", "jpeg2000", "heif", "resample_avif", "x265", "ultralow", "compressai_bmshj2018_factorized",
          "compressai_mbt2018_mean", "diffc_gaussian"]


def test_small_fixed_seed_fuzz_finds_no_crash_hang_or_stray_exception():
    result = fuzz(CODECS, streams=16 * len(CODECS), workers=2, timeout=60, seed=11, check_bytes=0, log=lambda _: None)
    assert not result["skipped"], result["skipped"]
    assert set(result["codecs"]) == set(CODECS)
    for label, row in result["codecs"].items():
        assert row["streams"] == 16 and sum(row[o] for o in OUTCOMES) == 16, label
        assert {o: row[o] for o in FAILING} == dict.fromkeys(FAILING, 0), (label, row["examples"])
        assert row["bitstream_error"] > 0, label  # the mutations do reach the decoders' checks


def test_mutations_are_seeded_and_change_the_stream():
    import numpy as np

    seeds = [bytes([0xB1, 1, 64, 48, 5]) + bytes(range(40)), bytes([0xB1, 1, 96, 64, 9]) + bytes(range(60))]
    first = mutated_streams(seeds, 60, np.random.default_rng(3))
    assert first == mutated_streams(seeds, 60, np.random.default_rng(3))
    assert all(stream not in seeds for _, stream in first)
    assert len({kind for kind, _ in first}) == 12
    edited = mutate(seeds[0], seeds[1], "header_size", np.random.default_rng(0))
    assert edited[:2] == seeds[0][:2] and edited[-40:] == seeds[0][-40:]
