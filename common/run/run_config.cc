#include "common/run/run_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/json.h"

namespace ef21 {

std::string RunConfig::DatasetDir() const {
  if (!data.empty()) return data;
  return dataset == "fashion-mnist" ? "/usr/share/datasets/fashion-mnist" : "";
}

CompressorKind RunConfig::EffectiveCompressor() const {
  if (traits().identity_only) return CompressorKind::kIdentity;
  return compressor.value_or(CompressorKind::kTopK);
}

StepsizeOptions RunConfig::ToStepsizeOptions() const {
  StepsizeOptions o;
  o.rule = stepsize;
  o.gamma = gamma;
  o.gamma0 = gamma0;
  o.eta = eta;
  return o;
}

MethodOptions RunConfig::ToMethodOptions() const {
  MethodOptions o;
  o.algorithm = algorithm;
  o.compressor = EffectiveCompressor();
  o.k = k;
  o.init = init;
  o.value_type = value_type;
  o.seed = seed;
  o.rounds = rounds;
  o.diagnostics_every = DiagnosticsEvery();
  o.noise.batch = batch;
  o.noise.sigma = sigma;
  o.noise.seed = seed;
  o.stepsize = ToStepsizeOptions();
  o.participation = participation;
  return o;
}

absl::Status RunConfig::Validate() const {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  const AlgorithmTraits t = traits();
  if (problem == ProblemKind::kLogreg) {
    const bool synthetic = synthetic_rows > 0 || synthetic_cols > 0;
    if (data.empty() == !synthetic) {
      return bad("--problem=logreg needs exactly one of --data=PATH or --synthetic=MxD");
    }
    if (synthetic && (synthetic_rows < 1 || synthetic_cols < 1)) {
      return bad("--synthetic=MxD needs M >= 1 and D >= 1; got ", synthetic_rows, "x", synthetic_cols);
    }
    if (features < 0) return bad("--features must be >= 0; got ", features);
    if (lambda && (!(*lambda >= 0.0) || !std::isfinite(*lambda))) {
      return bad("--lambda must be a finite number >= 0; got ", *lambda);
    }
    if (split == Split::kRow && clients != 0) {
      return bad("--clients is set by --split=row (one client per row); use --split=contiguous "
                 "to choose the number of clients");
    }
    if (split == Split::kContiguous && clients < 1) {
      return bad("--split=contiguous needs --clients=N with N >= 1");
    }
    if (sigma != 0.0) return bad("--sigma is the polynomial's gradient noise; logreg uses --batch");
  } else if (problem == ProblemKind::kNetwork) {
    if (dataset != "fashion-mnist" && dataset != "idx" && dataset != "cifar10") {
      return bad("--dataset must be fashion-mnist, idx or cifar10; got \"", dataset, "\"");
    }
    if (dataset != "fashion-mnist" && data.empty()) {
      return bad("--dataset=", dataset, " needs --data=DIR (the directory holding its files)");
    }
    if (model.empty()) return bad("--model must be resnet20, cnn, mlp or PATH.pt");
    if (synthetic_rows > 0 || lambda || sigma != 0.0) {
      return bad("--synthetic, --lambda and --sigma are not for --problem=network");
    }
    if (clients < 0) return bad("--clients must be >= 1; got ", clients);
    if (train_samples < 0) return bad("--train-samples must be >= 0; got ", train_samples);
    if (diagnostics_samples < 0) {
      return bad("--diagnostics-samples must be >= 0; got ", diagnostics_samples);
    }
    if (!x0_file.empty() || x0 != X0Kind::kGaussian) {
      return bad("a network starts from its model's initialization; --x0 and --x0-file are not for "
                 "--problem=network");
    }
    // No smoothness constant of a network is known: only γ0/√(K+1) needs none.
    if (stepsize != StepsizeRule::kConstant &&
        !(stepsize == StepsizeRule::kTheory &&
          (algorithm == Algorithm::kNormEf21 || algorithm == Algorithm::kNormGd))) {
      return bad("--stepsize=", StepsizeRuleName(stepsize), " of ", AlgorithmName(algorithm),
                 " needs smoothness constants, which a network does not have: pass "
                 "--stepsize=constant --gamma=G");
    }
  } else {
    if (!data.empty() || synthetic_rows > 0) return bad("--data and --synthetic are for --problem=logreg");
    if (lambda) return bad("--lambda is for logreg; the polynomial's λ follows from --L0 and --L1");
    if (dim < 1) return bad("--dim must be >= 1; got ", dim);
    if (!(L0 > 0.0) || !std::isfinite(L0)) return bad("--L0 must be positive; got ", L0);
    if (!(L1 > 0.0) || !std::isfinite(L1)) return bad("--L1 must be positive; got ", L1);
    if (clients < 0) return bad("--clients must be >= 1; got ", clients);
    if (batch != 0) return bad("--batch is for logreg; the polynomial's noise is --sigma");
    if (!(sigma >= 0.0) || !std::isfinite(sigma)) return bad("--sigma must be >= 0; got ", sigma);
  }
  if (compressor && t.identity_only && *compressor != CompressorKind::kIdentity) {
    return bad(AlgorithmName(algorithm), " is defined with the identity compressor; got --compressor=",
               CompressorKindName(*compressor));
  }
  if (EffectiveCompressor() != CompressorKind::kIdentity && k < 1) {
    return bad("--k must be >= 1; got ", k);
  }
  if (rounds < 1) return bad("--rounds must be >= 1; got ", rounds);
  if (rounds > 100000000) return bad("--rounds must be <= 1e8; got ", rounds);
  if (gamma && (!(*gamma > 0.0) || !std::isfinite(*gamma))) {
    return bad("--gamma must be positive; got ", *gamma);
  }
  if (!(gamma0 > 0.0) || !std::isfinite(gamma0)) return bad("--gamma0 must be positive; got ", gamma0);
  if (stepsize == StepsizeRule::kConstant && !gamma) return bad("--stepsize=constant needs --gamma");
  if (stepsize != StepsizeRule::kConstant && gamma) {
    return bad("--gamma is only used with --stepsize=constant; got --stepsize=", StepsizeRuleName(stepsize));
  }
  if (stepsize == StepsizeRule::kTheoryL1 && algorithm != Algorithm::kNormEf21 &&
      algorithm != Algorithm::kNormGd) {
    return bad("--stepsize=theory-l1 (Theorem 3) is for norm-ef21 and norm-gd; got ",
               AlgorithmName(algorithm));
  }
  if (algorithm == Algorithm::kEf21Sgdm && stepsize == StepsizeRule::kTheory) {
    return bad("ef21-sgdm has no theory stepsize here; pass --stepsize=constant --gamma=G --eta=E");
  }
  if (eta) {
    if (!t.momentum) return bad("--eta is the momentum of the -sgdm methods; ", AlgorithmName(algorithm), " has none");
    if (!(*eta > 0.0 && *eta <= 1.0)) return bad("--eta must be in (0, 1]; got ", *eta);
    if (t.eta_is_one && *eta != 1.0) return bad("norm-ef21-sgd is defined with --eta=1; got ", *eta);
  } else if (algorithm == Algorithm::kEf21Sgdm) {
    return bad("ef21-sgdm needs --eta");
  } else if (t.momentum && !t.eta_is_one && stepsize == StepsizeRule::kConstant) {
    return bad(AlgorithmName(algorithm), " with --stepsize=constant needs --eta");
  }
  if (batch < 0) return bad("--batch must be >= 0; got ", batch);
  if (!x0_file.empty() && x0 != X0Kind::kGaussian) return bad("--x0 and --x0-file are exclusive");
  if (threads < 0) return bad("--threads must be >= 0; got ", threads);
  if (diagnostics_every && *diagnostics_every < 1) {
    return bad("--diagnostics-every must be >= 1; got ", *diagnostics_every);
  }
  if (problem != ProblemKind::kNetwork &&
      (train_samples != 0 || diagnostics_samples != 0 || model != "cnn" || dataset != "fashion-mnist" ||
       shards != ShardKind::kRandom)) {
    return bad("--model, --dataset, --shards, --train-samples and --diagnostics-samples are for "
               "--problem=network");
  }
  if (!(eps > 0.0)) return bad("--eps must be positive; got ", eps);
  if (!(participation > 0.0 && participation <= 1.0)) {
    return bad("--participation must be in (0, 1]; got ", participation);
  }
  if (participation < 1.0) {
    if (t.error_feedback_14) {
      return bad("--participation < 1 (EF21-PP) is for the EF21 family; ef14 sets g to the round's "
                 "mean message, so an absent client's share would be lost");
    }
    if (problem == ProblemKind::kNetwork) {
      return bad("--participation < 1 is not available for --problem=network: the metrics of a "
                 "round need f_i(x) of the absent clients, which the round's closer would have to "
                 "compute over their whole shards");
    }
    // Only a rule without problem constants carries over unchanged: ||EF21||'s γ0/√(K+1).
    const bool constant_free = stepsize == StepsizeRule::kTheory && t.normalized && !t.momentum;
    if (stepsize != StepsizeRule::kConstant && !constant_free) {
      return bad("--stepsize=", StepsizeRuleName(stepsize), " of ", AlgorithmName(algorithm),
                 " is not defined with --participation < 1: the EF21-PP stepsize of Fatkhullin et "
                 "al. (EF21 with Bells & Whistles) is not implemented (SPEC §4); pass "
                 "--stepsize=constant --gamma=G, or use norm-ef21, whose gamma0/sqrt(K+1) needs no "
                 "constant");
    }
  }
  return absl::OkStatus();
}

std::string RunConfig::ToJson() const {
  JsonObject o;
  o.Add("problem", ProblemKindName(problem));
  if (problem == ProblemKind::kLogreg) {
    if (!data.empty()) o.Add("data", data);
    if (features > 0) o.Add("features", features);
    if (synthetic_rows > 0) o.Add("synthetic", absl::StrCat(synthetic_rows, "x", synthetic_cols));
    o.Add("lambda", EffectiveLambda());
    o.Add("split", SplitName(split));
    if (split == Split::kContiguous) o.Add("clients", clients);
  } else if (problem == ProblemKind::kNetwork) {
    o.Add("model", model);
    o.Add("dataset", dataset);
    o.Add("data", DatasetDir());
    o.Add("clients", EffectiveClients());
    o.Add("shards", ShardKindName(shards));
    if (train_samples > 0) o.Add("train_samples", train_samples);
    if (diagnostics_samples > 0) o.Add("diagnostics_samples", diagnostics_samples);
  } else {
    o.Add("dim", dim);
    o.Add("L0", L0);
    o.Add("L1", L1);
    o.Add("clients", clients == 0 ? int64_t{1} : clients);
    o.Add("sigma", sigma);
  }
  o.Add("algorithm", AlgorithmName(algorithm));
  o.Add("compressor", CompressorKindName(EffectiveCompressor()));
  if (EffectiveCompressor() != CompressorKind::kIdentity) o.Add("k", k);
  o.Add("rounds", rounds);
  o.Add("stepsize", StepsizeRuleName(stepsize));
  if (gamma) o.Add("gamma", *gamma);
  o.Add("gamma0", gamma0);
  if (eta) o.Add("eta", *eta);
  o.Add("batch", batch);
  o.Add("init", InitKindName(init));
  o.Add("value_type", ValueTypeName(value_type));
  if (x0_file.empty()) o.Add("x0", X0KindName(x0)); else o.Add("x0_file", x0_file);
  o.Add("seed", static_cast<int64_t>(seed));
  // Only when partial: full-participation runs keep their config.json (and checkpoints) as before.
  if (participation < 1.0) o.Add("participation", participation);
  o.Add("diagnostics_every", DiagnosticsEvery());
  o.Add("eps", eps);
  return o.Render();
}

}  // namespace ef21
