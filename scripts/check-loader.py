#!/usr/bin/env python3
"""Loads moeshard's outputs of the family fixtures with transformers and checks that they are the original model.

    python3 scripts/check-loader.py IN_DIR [--device cpu|cuda] [--family NAME ...] [--json FILE]

IN_DIR is what scripts/prepare-loader-check.sh writes: per family <family>/original/ (the fixture as transformers
saved it), <family>/to-hf/ (moeshard to-grouped, then to-hf) and <family>/hf-v5/ (to-grouped --layout hf-v5), or
<output>.refused in place of a folder moeshard refused to write (listed as skipped, with the tool's message).

Each folder is loaded with from_pretrained(output_loading_info=True) in the dtype its config.json was saved in, in
eval mode, by the class its config.json's architectures names (AutoModelForCausalLM, then
AutoModelForImageTextToText, where transformers has no such class). An output passes when transformers reports no
missing, unexpected or mismatched keys (beyond those it reports for the original itself, which are printed as notes),
every parameter and buffer of the loaded model equals the original's (torch.equal), and its logits on fixed input ids
equal the original's (torch.equal; the largest absolute difference is printed otherwise). The original must load and
give the same logits twice (else the device is not deterministic and nothing can be compared). One table line per family and output, then a JSON summary as the last
line; exit 1 when any check failed, after all ran. A family transformers cannot load prints why; the others go on.
"""
import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path

# cuBLAS reads this when CUDA starts: without it deterministic matmuls are not guaranteed (and torch warns).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

OUTPUTS = ("to-hf", "hf-v5")
SEED = 1234
BATCH, SEQ = 2, 12
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
REASON_CHARS = 400


def read_config(folder):
    return json.loads((folder / "config.json").read_text())


def language_part(config):
    """The config's language-model part: itself, or the nested text_config / language_config of a multimodal one."""
    for nested in ("text_config", "language_config"):
        if isinstance(config.get(nested), dict) and "vocab_size" not in config:
            return config[nested]
    return config


def saved_dtype(config):
    name = config.get("dtype") or config.get("torch_dtype") or language_part(config).get("dtype") \
        or language_part(config).get("torch_dtype") or "float32"
    if name not in DTYPES:
        raise ValueError(f"config.json names dtype {name!r}; known: {sorted(DTYPES)}")
    return DTYPES[name]


def input_ids(config):
    """Fixed token ids below the vocabulary size, the same for every folder of a family."""
    generator = torch.Generator().manual_seed(SEED)
    return torch.randint(0, int(language_part(config)["vocab_size"]), (BATCH, SEQ), generator=generator)


def short(exc):
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS] + "..."


def model_classes(transformers, config):
    """The classes to try, best first: the one config.json's architectures names, then the auto classes."""
    classes = []
    for arch in config.get("architectures") or []:
        if getattr(transformers, arch, None) is not None:
            classes.append(getattr(transformers, arch))
    for auto in ("AutoModelForCausalLM", "AutoModelForImageTextToText"):
        if getattr(transformers, auto, None) is not None:
            classes.append(getattr(transformers, auto))
    return classes


def load(folder, device, attn):
    """(model, loading-info problems, notes): the model in eval mode on device; problems maps each non-empty entry of
    transformers' loading info to its sorted entries, as text."""
    import transformers

    config_json = read_config(folder)
    dtype = saved_dtype(config_json)
    notes = []
    errors = []
    for cls in model_classes(transformers, config_json):
        kwargs = {"output_loading_info": True, "dtype": dtype, "attn_implementation": attn}
        config_class = getattr(cls, "config_class", None)
        try:
            if config_class is not None and getattr(config_class, "model_type", None):
                # A concrete class: its own config class reads config.json, so that a model_type transformers does
                # not know (kimi_k2 is DeepSeek-V3's architecture under its own name) still loads as the class it
                # names. The model_type becomes the class's, which picks transformers' weight conversions for it.
                config = config_class.from_pretrained(folder)
                if getattr(config, "model_type", None) != config_class.model_type:
                    notes.append(f"model_type {config_json.get('model_type')} read as {config_class.model_type}")
                    config.model_type = config_class.model_type
                kwargs["config"] = config
            torch.manual_seed(SEED)  # whatever transformers initialises at random is the same in every load
            model, info = cls.from_pretrained(folder, **kwargs)
        except (ValueError, KeyError) as e:  # this class does not take this config: try the next
            errors.append(f"{cls.__name__}: {short(e)}")
            continue
        notes.append(type(model).__name__)
        problems = {}
        # a dict in the versions read; an object with the same fields is taken too
        for name, entries in (info if isinstance(info, dict) else {} if info is None else vars(info)).items():
            if entries:
                problems[name] = sorted(str(x) for x in entries)
        return model.to(device).eval(), problems, notes
    raise RuntimeError("no class loads it: " + "; ".join(errors) if errors else "transformers has no class for it")


def logits(model, ids):
    with torch.no_grad():
        torch.manual_seed(SEED)
        return model(input_ids=ids.to(next(model.parameters()).device), use_cache=False).logits.detach().cpu()


def tensors(model):
    """Every parameter and buffer by name, on the CPU."""
    return {name: t.detach().cpu() for name, t in model.state_dict().items()}


def state_differences(reference, other):
    """Names only in one of the two models, and names whose tensors differ in shape, dtype or any value."""
    only_ref = sorted(set(reference) - set(other))
    only_other = sorted(set(other) - set(reference))
    differing = sorted(n for n in set(reference) & set(other)
                       if reference[n].shape != other[n].shape or reference[n].dtype != other[n].dtype
                       or not torch.equal(reference[n], other[n]))
    return only_ref, only_other, differing


def logit_difference(expected, actual):
    """None when identical, else the largest absolute difference (inf when shapes or dtypes differ)."""
    if expected.shape != actual.shape or expected.dtype != actual.dtype:
        return float("inf")
    if torch.equal(expected, actual):
        return None
    return (expected.float() - actual.float()).abs().max().item()


class Result:
    def __init__(self, family, output):
        self.family, self.output = family, output
        self.status = "pass"
        self.reasons = []
        self.notes = []
        self.key_problems = {}
        self.compared = False  # whether logits were computed and compared
        self.max_abs_diff = None
        self.differing_tensors = []

    def fail(self, reason):
        self.status = "FAIL"
        self.reasons.append(reason)

    def row(self):
        keys = "/".join(str(len(self.key_problems.get(k, []))) for k in
                        ("missing_keys", "unexpected_keys", "mismatched_keys"))
        diff = "-" if not self.compared else "equal" if self.max_abs_diff is None else f"{self.max_abs_diff:.3g}"
        text = "; ".join(self.reasons) or ", ".join(self.notes)
        return f"{self.family:18} {self.output:9} {self.status:7} {keys:8} {diff:9} {len(self.differing_tensors):4}  {text}"

    def as_json(self):
        return {"family": self.family, "output": self.output, "status": self.status, "reasons": self.reasons,
                "notes": self.notes, "loading_info": self.key_problems, "logits_compared": self.compared,
                "max_abs_diff": self.max_abs_diff if self.max_abs_diff is None or math.isfinite(self.max_abs_diff)
                else str(self.max_abs_diff),
                "differing_tensors": self.differing_tensors}


def listing(label, names):
    return f"{label}: {len(names)} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"


def check_keys(result, reference=None):
    """Fails result for every loading-info entry that the original's load did not report too. The original's own
    entries (transformers' view of its own save) are notes: the tensor and logit comparisons still hold."""
    for name, entries in result.key_problems.items():
        if reference is None:
            result.notes.append("original's " + listing(name, entries))
            continue
        new = [e for e in entries if e not in set(reference.key_problems.get(name, []))]
        if new:
            result.fail(listing(name, new))


def check_family(folder, device, attn):
    """The original's result and one per output; loads one model at a time beside the original."""
    family = folder.name
    ref = Result(family, "original")
    results = [ref]
    reference = None
    try:
        config = read_config(folder / "original")
        ids = input_ids(config)
        model, ref.key_problems, ref.notes = load(folder / "original", device, attn)
        check_keys(ref)
        expected = logits(model, ids)
        again = logit_difference(expected, logits(model, ids))
        if again is not None:
            ref.fail(f"two runs of the original differ by {again:.3g}: {device} is not deterministic here")
        ref.max_abs_diff, ref.compared = again, True
        reference = (tensors(model), expected)
        del model
    except Exception as e:  # one family's failure must not stop the others
        ref.fail(short(e))
        traceback.print_exc(limit=3)
    for output in OUTPUTS:
        result = Result(family, output)
        results.append(result)
        path = folder / output
        refused = folder / f"{output}.refused"
        if refused.exists() and not path.exists():
            result.status = "skipped"
            result.notes.append("moeshard refused: " + refused.read_text().strip()[:REASON_CHARS])
            continue
        if not path.is_dir():
            result.fail(f"{path} was not prepared")
            continue
        if ref.status != "pass":
            result.fail("no reference: the original did not pass")
            continue
        try:
            model, result.key_problems, result.notes = load(path, device, attn)
            check_keys(result, ref)
            only_ref, only_out, result.differing_tensors = state_differences(reference[0], tensors(model))
            for label, names in (("tensors only in the original", only_ref), ("tensors only here", only_out),
                                 ("tensors that differ", result.differing_tensors)):
                if names:
                    result.fail(listing(label, names))
            result.max_abs_diff = logit_difference(reference[1], logits(model, ids))
            result.compared = True
            if result.max_abs_diff is not None:
                result.fail(f"logits differ, max abs diff {result.max_abs_diff:.3g}")
            del model
        except Exception as e:
            result.fail(short(e))
            traceback.print_exc(limit=3)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--attn", default="eager", help="attn_implementation for every load (default: eager)")
    parser.add_argument("--family", action="append", help="check only this family (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the summary here, indented")
    args = parser.parse_args()

    folders = sorted(p for p in args.in_dir.iterdir() if (p / "original").is_dir()) if args.in_dir.is_dir() else []
    if args.family:
        folders = [p for p in folders if p.name in args.family]
    if not folders:
        print(f"check-loader: no <family>/original/ folders in {args.in_dir}", file=sys.stderr)
        sys.exit(2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        import transformers
        versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    except Exception as e:
        versions = {"transformers": None, "torch": torch.__version__, "transformers_error": short(e)}
    print(f"transformers {versions['transformers']}, torch {versions['torch']}, device {args.device}, "
          f"attn {args.attn}, input ids [{BATCH}, {SEQ}] from seed {SEED}")
    print(f"{'family':18} {'output':9} {'status':7} {'m/u/x':8} {'logits':9} {'diff':>4}  notes "
          "(m/u/x: missing/unexpected/mismatched keys; diff: tensors unlike the original's)")
    results = []
    for folder in folders:
        for result in check_family(folder, args.device, args.attn):
            print(result.row(), flush=True)
            results.append(result)
    prepare = args.in_dir / "prepare.json"
    summary = {**versions, "device": args.device, "attn": args.attn,
               "passed": sum(r.status == "pass" for r in results),
               "failed": sum(r.status == "FAIL" for r in results),
               "skipped": sum(r.status == "skipped" for r in results),
               "prepare": json.loads(prepare.read_text()) if prepare.exists() else None,
               "results": [r.as_json() for r in results]}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    sys.exit(1 if summary["failed"] else 0)


if __name__ == "__main__":
    main()
