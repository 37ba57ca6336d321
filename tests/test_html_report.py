"""The pictures a report keeps, the HTML page made from it, and `inpaint-conformance report`.

Exchanges here are real: probe requests sent through the Runner to the embedded fake
(with a deviation where a failure is wanted) and judged by the contracts' validators.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import kept_and_repainted
from inpaint_conformance.harness import runner as runner_module
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.html_report import render_html, write_html
from inpaint_conformance.harness.pictures import PictureBook, capture, clause_shots, shots_of
from inpaint_conformance.harness.probes import RequestSpec, upload, valid_spec
from inpaint_conformance.harness.reports import load_json
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.results import ClauseResult, RunReport
from inpaint_conformance.harness.target import WRONG_KEY, EmbeddedTarget

SEED = "20240607"


def runner_for(deviations: tuple[str, ...] = (), api: Api = Api.AITHRIVING) -> runner_module.Runner:
    target = EmbeddedTarget(deviations, inject_429=False)
    return runner_module.Runner(
        target, api, examples=0, hypothesis_seed=0, reproducer=Reproducer(target.reproduce_origin, wrong_key=WRONG_KEY)
    )


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,"), uri[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")).astype(int)


def picture(shot: dict, role: str) -> dict:
    found = [p for p in shot["pictures"] if p["role"] == role]
    assert found, f"no {role} picture in {[p['role'] for p in shot['pictures']]}"
    return found[0]


def red(pixels: np.ndarray) -> np.ndarray:
    """Pixels the difference maps paint as changed: strongly red, not grey."""
    return (pixels[..., 0] > 200) & (pixels[..., 1] < 120) & (pixels[..., 2] < 120)


# -- difference maps ----------------------------------------------------------------------
def test_an_inverted_mask_lights_up_the_kept_region_of_the_difference_map():
    exchange = runner_for(("mask_inverted",)).send(valid_spec(), focus=("ait.kept_pixels",))
    shot = capture(exchange.probe, exchange.verdict, exchange.result)

    assert [p["role"] for p in shot["pictures"]] == ["input", "mask", "output", "difference"]
    kept, repainted = kept_and_repainted(exchange.verdict.request.strength_mask())
    diff = decode(picture(shot, "difference")["thumb"])
    assert red(diff)[kept].mean() > 0.8  # nearly every kept pixel was repainted
    assert not red(diff)[repainted].any()  # the repainted side is tinted, never red
    assert shot["psnr_kept"] < 40 and "PSNR" in picture(shot, "difference")["caption"]


def test_a_conforming_answer_leaves_the_difference_map_without_red():
    exchange = runner_for().send(valid_spec(), focus=("ait.kept_pixels",))
    shot = capture(exchange.probe, exchange.verdict, exchange.result)

    diff = decode(picture(shot, "difference")["thumb"])
    assert not red(diff).any()
    assert shot["psnr_kept"] == "inf"
    assert "where the mask keeps: PSNR identical" not in picture(shot, "difference")["caption"]
    assert "where the mask keeps: identical" in picture(shot, "difference")["caption"]


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_a_lossy_output_gets_a_plain_note_instead_of_a_red_difference_map(fmt):
    exchange = runner_for().send(valid_spec(output_format=fmt), focus=("ait.output_format.honoured",))
    shot = capture(exchange.probe, exchange.verdict, exchange.result)

    assert [p["role"] for p in shot["pictures"]] == ["input", "mask", "output"]
    (note,) = shot["notes"]
    assert f"no difference map: {fmt.upper()} output is lossy, so its kept pixels are not judged" in note
    page = render_html(RunReport(["aithriving"], "t", [_with_shots("ait.output_format.honoured", [shot])], "", "t"))
    assert "no difference map" in page and 'data-role="difference"' not in page


def _with_shots(clause: str, shots: list[dict]) -> ClauseResult:
    return ClauseResult("aithriving", clause, "MUST", "passed", "ok", evidence={"pictures": shots})


def test_picture_captions_say_identical_and_changed_in_words_not_infinite_decibels():
    runner = runner_for(("mask_inverted",))
    exchange = runner.send(valid_spec(), focus=("ait.kept_pixels",))
    shot = capture(exchange.probe, exchange.verdict, exchange.result)
    page = render_html(RunReport(["aithriving"], "t", [_with_shots("ait.kept_pixels", [shot])], "", "t"))
    assert "inf dB" not in page
    assert "kept area changed from the input (PSNR" in page
    assert "repainted area unchanged: nothing was painted there" in page


def test_the_mask_shown_for_an_rgba_image_without_mask_is_the_one_read_from_alpha():
    from inpaint_conformance.harness.probe_images import patterned, with_alpha

    image = with_alpha(patterned((128, 96)), "left")
    spec = RequestSpec({"prompt": "a boat", "seed": SEED}, {"image": upload(image, "png")})
    exchange = runner_for().send(spec, focus=("ait.mask.alpha",))
    shot = capture(exchange.probe, exchange.verdict, exchange.result)

    mask = picture(shot, "mask")
    assert "alpha" in mask["caption"]
    grey = decode(mask["thumb"])[..., 0]
    assert grey[:, :60].min() == 255 and grey[:, 70:].max() == 0  # transparent left half is repainted


@pytest.mark.parametrize("deviations, differs", [((), False), (("not_reproducible",), True)])
def test_two_identical_seeded_requests_get_a_reproducibility_map(deviations, differs):
    runner = runner_for(deviations)
    book = PictureBook()
    spec = valid_spec(seed=SEED, output_format="png")
    exchanges = []
    for label in ("first", "second"):
        runner.current_probe = "reproducible"
        exchanges.append(runner.send(spec, label=label))
        book.add(exchanges[-1])
    for exchange in exchanges:  # what the reproducible probe does through Runner.exercise
        book.file("ait.reproducible", exchange)
    results = book.attach([ClauseResult("aithriving", "ait.reproducible", "SHOULD", "passed", "x")])

    shots = clause_shots(results[0], shots_of(results))
    assert [s["probe"] for s in shots] == ["reproducible[first]", "reproducible[second]"]
    second = shots[1]
    assert {"first output", "reproducibility"} <= {p["role"] for p in second["pictures"]}
    assert bool(red(decode(picture(second, "reproducibility")["thumb"])).any()) == differs
    assert (second["psnr_outputs"] == "inf") is not differs


def test_an_exchange_without_any_image_has_no_pictures():
    exchange = runner_for().send(valid_spec().but(files={"image": upload(b"not an image", "png")}))
    assert capture(exchange.probe, exchange.verdict, exchange.result) is None


# -- pictures filed under clause results ----------------------------------------------------------
@pytest.fixture(scope="module")
def inverted_report() -> RunReport:
    """A run of every AIThriving probe against the embedded fake that inverts masks, with pictures."""
    runner = runner_for(("mask_inverted",))
    results = runner.run()
    return RunReport(["aithriving"], runner.target.description, results, "2026-01-01T00:00:00+00:00", "test")


def test_a_failing_clause_shows_first_the_exchange_that_broke_it(inverted_report):
    kept = next(r for r in inverted_report.results if r.clause == "ait.kept_pixels")
    assert kept.status == "failed"
    shots = clause_shots(kept, shots_of(inverted_report.results))
    assert shots[0]["probe"] == kept.evidence["exchange"]["probe"]
    assert {p["role"] for p in shots[0]["pictures"]} == {"input", "mask", "output", "difference"}


def test_each_shot_is_stored_once_and_every_reference_resolves(inverted_report):
    stored, refs = [], []
    for result in inverted_report.results:
        for entry in result.evidence.get("pictures", []):
            (refs if "ref" in entry else stored).append(entry.get("ref") or entry["id"])
    assert len(stored) == len(set(stored)) > 10
    assert set(refs) <= set(stored)
    # The report is JSON: pictures survive a write and a read.
    again = RunReport.from_dict(json.loads(json.dumps(inverted_report.to_dict())))
    assert shots_of(again.results).keys() == shots_of(inverted_report.results).keys()


def test_every_probe_that_sent_an_image_is_in_the_gallery(inverted_report):
    probes = {s["probe"].split("[", 1)[0] for s in shots_of(inverted_report.results).values()}
    assert {
        "basic",
        "output_formats",
        "input_formats",
        "mask_from_alpha",
        "mask_variants",
        "reproducible",
        "odd_sizes",
    } <= probes


# -- the page ------------------------------------------------------------------------------
class _Links(HTMLParser):
    """Every URL the page would load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name in ("src", "href", "action", "poster", "data"):
            if attributes.get(name):
                self.urls.append((tag, name, attributes[name]))


def test_the_page_is_self_contained(inverted_report):
    page = render_html(inverted_report)
    links = _Links()
    links.feed(page)
    outside = [(t, n, u[:60]) for t, n, u in links.urls if not u.startswith(("data:", "#"))]
    assert outside == []
    assert not [a for t, a in links.tags if t in ("script", "link") and (a.get("src") or a.get("rel") == "stylesheet")]
    assert "@import" not in page and "url(http" not in page


def test_the_page_shows_the_failing_clause_with_its_citation_pictures_and_reproducer(inverted_report, tmp_path):
    path = write_html(inverted_report, tmp_path / "deep" / "report.html")
    page = path.read_text(encoding="utf-8")
    start = page.index('id="clause-ait.kept_pixels"')
    row = page[start : page.index("</details>", page.index('class="shots"', start))]
    assert 'data-status="failed"' in row and " open" in row[:400]
    assert "decision <strong>A12</strong> (kept pixels, SHOULD; docs/decisions.md)" in row
    assert "curl -sS -X POST" in row and "$AIT_API_KEY" in row and 'class="copy"' in row
    for role in ("input", "mask", "output", "difference"):
        assert f'data-role="{role}"' in row
    assert "embedded-main-key" not in page  # B3: the key of the run never reaches the page


def test_a_picture_shown_in_several_places_is_written_once(inverted_report):
    page = render_html(inverted_report)
    uris = [u for t, n, u in _urls(page) if u.startswith("data:image")]
    assert len(uris) == len(set(uris))
    assert page.count("<img") > len(uris)  # the other appearances borrow the data


def _urls(page: str) -> list[tuple[str, str, str]]:
    links = _Links()
    links.feed(page)
    return links.urls


def test_a_hundred_probes_of_large_noisy_pictures_stay_under_10_mb(tmp_path):
    """Worst case for compression: every probe sends and gets back 512x512 noise, on both APIs."""
    rng = np.random.default_rng(7)
    results = []
    for api in (Api.AITHRIVING, Api.VYRO):
        runner = runner_for(api=api)
        noise = Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8), "RGB")
        exchange = runner.send(
            valid_spec((512, 512)).but(files={"image": upload(noise, "png")}), focus=(f"{api.prefix}.kept_pixels",)
        )
        book = PictureBook()
        for n in range(50):
            book.add(dataclasses.replace(exchange, probe=f"probe_{n}"))
        results += book.attach([ClauseResult(api.value, f"{api.prefix}.kept_pixels", "SHOULD", "failed", "x")])
    report = RunReport(["aithriving", "vyro"], "noise", results, "", "test")

    path = write_html(report, tmp_path / "big.html")
    assert path.stat().st_size < 10 * 1024 * 1024
    assert len(shots_of(report.results)) == 100  # thumbnails of all of them made it
    assert any(p["full"] for s in shots_of(report.results).values() for p in s["pictures"])


def test_a_report_without_pictures_or_from_another_version_still_renders():
    report = RunReport(
        ["aithriving"],
        "somewhere",
        [
            ClauseResult("aithriving", "ait.not_in_this_catalog", "MUST", "failed", "it broke", reproduce="curl x"),
            ClauseResult("aithriving", "ait.seed.range", "MUST", "unverified", "no key", fix="pass --api-key"),
        ],
        "",
        "",
    )
    page = render_html(report)
    assert "not in this tool's clause catalog" in page and "No probe of this run sent or received an image" in page


# -- the `report` command --------------------------------------------------------------------
def test_report_command_renders_a_saved_json_report(inverted_report, tmp_path, capsys):
    from inpaint_conformance.harness.reports import write_json

    saved = write_json(inverted_report, tmp_path / "r.json")
    assert main(["report", str(saved), "--html", str(tmp_path / "out" / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out
    page = (tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert 'data-clause="ait.kept_pixels"' in page and 'data-role="difference"' in page


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no report at"),
        ("not json", "is not JSON"),
        ('{"results": 3}', "expected a JSON object with a 'results' list"),
    ],
)
def test_report_command_explains_a_file_it_cannot_read(tmp_path, capsys, content, expected):
    source = tmp_path / "r.json"
    if content is not None:
        source.write_text(content)
    assert main(["report", str(source), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_command_explains_a_page_it_cannot_write(inverted_report, tmp_path, capsys):
    from inpaint_conformance.harness.reports import write_json

    saved = write_json(inverted_report, tmp_path / "r.json")
    (tmp_path / "file").write_text("")
    assert main(["report", str(saved), "--html", str(tmp_path / "file" / "r.html")]) == 2
    assert "cannot write the HTML report" in capsys.readouterr().err


def test_verify_json_report_carries_pictures(tmp_path):
    """verify --json-report, then `report`: the pictures travel inside the JSON."""
    json_path = tmp_path / "r.json"
    assert (
        main(
            [
                "verify",
                "--api",
                "vyro",
                "--deviation",
                "mask_inverted",
                "--examples",
                "1",
                "--json-report",
                str(json_path),
            ]
        )
        == 0
    )
    report = load_json(json_path)
    kept = next(r for r in report.results if r.clause == "vyro.kept_pixels")
    assert kept.status == "failed" and clause_shots(kept, shots_of(report.results))


def test_one_changed_kept_pixel_still_shows_in_a_shrunken_difference_map():
    from inpaint_conformance.harness.difference_maps import kept_difference
    from inpaint_conformance.harness.probe_images import half_mask, patterned

    original, mask = patterned((1000, 700)), half_mask((1000, 700), "right")
    output = original.copy()
    output.putpixel((123, 456), (0, 0, 0))  # on the kept (left) half
    small = np.asarray(kept_difference(original, output, mask, side=160)).astype(int)
    assert max(small.shape[:2]) <= 160
    assert red(small).sum() == 1
    assert not red(np.asarray(kept_difference(original, original, mask, side=160)).astype(int)).any()
