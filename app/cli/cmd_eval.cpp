// genrec eval: offline HR@K / NDCG@K of a model folder on a dataset split.
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "core/data/dataset.h"
#include "core/store/run_store.h"
#include "training/eval/evaluator.h"
#include "training/model/model_loading.h"
#include "training/runtime/threads.h"
#include "training/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace genrec::app {

namespace {

std::vector<int> parseKs(const std::string &text)
{
    std::vector<int> ks;
    std::istringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            size_t used = 0;
            const int k = std::stoi(item, &used);
            if (used != item.size() || k < 1)
                throw std::invalid_argument(item);
            ks.push_back(k);
        } catch (const std::exception &) {
            core::throwBadInput("--k: '" + item + "' is not a positive integer", "e.g. --k 1,3,5,10,20");
        }
    }
    if (ks.empty())
        core::throwBadInput("--k: no cut-offs given", "e.g. --k 1,3,5,10,20");
    return ks;
}

std::string fmt(double v, int digits)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

} // namespace

void registerEvalCommands(CLI::App &app, CliContext &ctx)
{
    struct EvalArgs
    {
        std::string model, data, dataset, split = "test", ks = "1,3,5,10,20", norm = "full";
        int beams = 20;
        int batch = 8;
        int64_t maxSamples = -1;
        int threads = 0;
        int64_t run = -1;
        int64_t vocab = 0;
        std::string saveModel, exportPrompts;
        std::string promptTemplate = "fixed";
    };
    static EvalArgs a;
    auto *ev = app.add_subcommand("eval", "Constrained beam-search evaluation: HR@K, NDCG@K, coverage, level accuracy");
    ev->add_option("--model", a.model, "HF model folder (config.json, safetensors, tokenizer.json with SID tokens)")->required();
    ev->add_option("--data", a.data, "Dataset folder")->required();
    ev->add_option("--dataset", a.dataset, "Dataset name (e.g. Industrial_and_Scientific)")->required();
    ev->add_option("--split", a.split, "valid | test")->capture_default_str();
    ev->add_option("--k", a.ks, "Comma-separated cut-offs")->capture_default_str();
    ev->add_option("--beams", a.beams, "Beams = list length per user")->capture_default_str();
    ev->add_option("--batch", a.batch, "Prompts per beam-search batch")->capture_default_str();
    ev->add_option("--max-samples", a.maxSamples, "Evaluate only the first N rows (-1 = all)")->capture_default_str();
    ev->add_option("--normalisation", a.norm,
                   "full (log-softmax over the whole vocabulary, as MiniOneRec) | constrained (over allowed tokens only, faster)")
        ->capture_default_str();
    ev->add_option("--prompt-template", a.promptTemplate,
                   "The prompt_template the model was trained with: fixed | compat | compact")
        ->capture_default_str();
    ev->add_option("--threads", a.threads, "Intra-op threads (0 = all)")->capture_default_str();
    ev->add_option("--run", a.run, "Store the result into this run of --store");
    ev->add_option("--vocab", a.vocab,
                   "preset:NAME models only: embedding rows (0 = the compact tokenizer's size; e.g. 151936 for a "
                   "Qwen-sized head)");
    ev->add_option("--save-model", a.saveModel, "Also save the evaluated model and tokenizer as an HF folder (fp32)");
    ev->add_option("--export-prompts", a.exportPrompts,
                   "Write the evaluated prompts and the trie paths (token ids) as JSON, for reference implementations");
    ev->callback([&ctx] {
        ctx.action = [&ctx] {
            train::EvalOptions o;
            o.split = a.split;
            o.ks = parseKs(a.ks);
            if (a.beams < 1)
                core::throwBadInput("--beams must be >= 1", "e.g. --beams 20");
            o.numBeams = a.beams;
            o.batchSize = a.batch;
            o.maxSamples = a.maxSamples;
            o.promptTemplate = train::parsePromptTemplate(a.promptTemplate);
            if (a.norm == "full")
                o.normalisation = train::Normalisation::FullVocab;
            else if (a.norm == "constrained")
                o.normalisation = train::Normalisation::Constrained;
            else
                core::throwBadInput("--normalisation: unknown value '" + a.norm + "'", "use full or constrained");
            train::setThreadCount(a.threads);
            const core::Dataset ds = core::loadDataset(a.data, a.dataset);
            // A preset model gets a compact tokenizer trained on the item titles plus the SID tokens.
            const bool preset = a.model.rfind("preset:", 0) == 0;
            train::BpeTokenizer tok;
            train::CausalLmLoadOptions load;
            if (preset) {
                std::vector<std::string> corpus;
                for (const auto &it : ds.items)
                    corpus.push_back(it.title);
                tok = train::BpeTokenizer::trainCompact(corpus, 2000);
                tok.addTokens(ds.sidVocabulary());
                load.presetVocabSize = std::max<int64_t>(a.vocab, tok.size());
            } else {
                tok = train::BpeTokenizer::load(a.model);
            }
            auto model = train::loadCausalLm(a.model, load);
            model->eval();
            if (!a.saveModel.empty()) {
                train::saveCausalLm(*model, a.saveModel, "float32");
                tok.save(a.saveModel);
            }
            train::Evaluator evaluator(*model, tok, ds);
            if (!a.exportPrompts.empty()) {
                const auto &rows = ds.split(a.split);
                const size_t n = a.maxSamples < 0 ? rows.size() : std::min(rows.size(), static_cast<size_t>(a.maxSamples));
                nlohmann::json j = {{"eos", tok.eosTokenId()}, {"pad", tok.padTokenId()}, {"beams", a.beams}};
                j["prompts"] = nlohmann::json::array();
                for (size_t i = 0; i < n; ++i) {
                    std::vector<std::string> hist;
                    for (int64_t id : rows[i].history)
                        if (const core::Item *it = ds.item(id))
                            hist.push_back(it->sid);
                    j["prompts"].push_back(train::encodeNextSidPrompt(tok, hist, train::parsePromptTemplate(a.promptTemplate)));
                }
                j["paths"] = nlohmann::json::array();
                for (const auto &e : evaluator.trie().enumeratePaths())
                    j["paths"].push_back(e.tokens);
                std::ofstream out(a.exportPrompts);
                out << j.dump();
                if (!out)
                    core::throwRuntime("cannot write " + a.exportPrompts, "check the folder exists and is writable");
            }
            ProgressBar bar("eval " + a.split, 0, ctx.json);
            bool started = false;
            const train::EvalReport rep = evaluator.evaluate(o, [&](int64_t done, int64_t total) {
                if (!started)
                    bar = ProgressBar("eval " + a.split, total, ctx.json), started = true;
                bar.update(done);
                return true;
            });
            bar.finish();
            if (a.run >= 0) {
                core::RunStore store(ctx.resolvedStorePath());
                core::EvalResult r;
                r.runId = a.run;
                r.stage = "eval";
                r.split = a.split;
                r.metricsJson = rep.metricsJson();
                r.userIds = rep.userIds;
                r.ranks = rep.ranks;
                store.addEvalResult(r);
            }
            if (ctx.json) {
                nlohmann::json j = {{"event", "eval"}, {"split", a.split}, {"rows", rep.numRows},
                                    {"seconds", rep.seconds}, {"metrics", nlohmann::json::object()}};
                for (const auto &[k, v] : rep.metrics)
                    j["metrics"][k] = v;
                nlohmann::json ex = nlohmann::json::array();
                for (const auto &e : rep.examples) {
                    nlohmann::json top = nlohmann::json::array();
                    for (const auto &p : e.top)
                        top.push_back({{"sid", p.sid}, {"title", p.title}, {"score", p.score}});
                    ex.push_back({{"user", e.userId}, {"history", e.historyTitles}, {"target_sid", e.targetSid},
                                  {"target_title", e.targetTitle}, {"rank", e.rank}, {"top", top}});
                }
                j["examples"] = ex;
                printJson(j);
                return core::kExitOk;
            }
            std::cout << a.split << ": " << rep.numRows << " users, " << fmt(rep.seconds, 1) << " s ("
                      << fmt(rep.metrics.at("users_per_s"), 2) << " users/s), " << a.beams << " beams, "
                      << a.norm << " normalisation\n\n";
            std::cout << "    K      HR@K    NDCG@K  coverage@K\n";
            for (int k : o.ks) {
                const auto hr = rep.metrics.find("hr@" + std::to_string(k));
                if (hr == rep.metrics.end())
                    continue;
                std::cout << (k < 10 ? "    " : "   ") << k << "  " << fmt(hr->second, 4) << "    "
                          << fmt(rep.metrics.at("ndcg@" + std::to_string(k)), 4) << "      "
                          << fmt(rep.metrics.at("coverage@" + std::to_string(k)), 4) << "\n";
            }
            std::cout << "\nSID level accuracy (top-1 prefix):";
            for (int l = 1;; ++l) {
                const auto it = rep.metrics.find("level_acc@" + std::to_string(l));
                if (it == rep.metrics.end())
                    break;
                std::cout << "  L" << l << " " << fmt(it->second, 4);
            }
            std::cout << "\n";
            for (const auto &e : rep.examples) {
                std::cout << "\nuser " << e.userId << " (target " << e.targetSid << " \"" << e.targetTitle
                          << "\", rank " << (e.rank < 0 ? std::string("miss") : std::to_string(e.rank + 1)) << ")\n";
                for (size_t k = 0; k < e.top.size(); ++k)
                    std::cout << "  " << (k + 1) << ". " << e.top[k].sid << "  " << e.top[k].title << "  ("
                              << fmt(e.top[k].score, 3) << ")\n";
            }
            if (a.run >= 0)
                std::cout << "\nstored into run " << a.run << " of " << ctx.resolvedStorePath() << "\n";
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
