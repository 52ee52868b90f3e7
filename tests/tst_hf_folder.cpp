// The Torch side of model-file I/O: safetensors ↔ at::Tensor with dtype conversion, cancellable
// loading, and HF model folders (save → inspect → load, atomic replacement, strict matching).

#include "core/common/error.h"
#include "training/io/hf_folder_torch.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

using namespace genrec::train;
using genrec::core::Error;
using genrec::core::ErrorKind;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string &rel)
{
    return qEnvironmentVariable("GENREC_FIXTURES").toStdString() + "/safetensors/" + rel;
}

std::string slurp(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Random weights with the names and shapes of `config`.
StateDict randomWeights(const ModelConfig &config)
{
    StateDict tensors;
    for (const HfTensorSpec &s : hfTensorShapes(config))
        tensors.emplace(s.name, torch::randn(s.shape));
    return tensors;
}

ModelConfig tinyConfig()
{
    ModelConfig c = presetModelConfig("preset:tiny", 96);
    c.bosTokenId = 1;
    c.eosTokenId = 2;
    c.padTokenId = 0;
    return c;
}

std::string errorText(const std::function<void()> &f, ErrorKind *kind = nullptr)
{
    try {
        f();
    } catch (const Error &e) {
        if (kind)
            *kind = e.kind();
        return e.what();
    }
    return {};
}

} // namespace

class TestHfFolder : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void scalarTypes();
    void loadsFixtureWithConversion();
    void saveLoadRoundTrip_data();
    void saveLoadRoundTrip();
    void progressAndCancel();
    void shardedFixture();
    void hfFolderRoundTrip();
    void tiedLmHeadIsDropped();
    void strictLoadReportsMismatch();
    void saveReplacesOnlyModelFolders();
    void saveRejectsMismatchedTensors();
    void inspectReportsProblems();
};

void TestHfFolder::initTestCase()
{
    torch::manual_seed(7);
}

void TestHfFolder::scalarTypes()
{
    for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                    DType::I16, DType::I8, DType::U8, DType::Bool})
        QCOMPARE(fromScalarType(toScalarType(d)), d);
    QVERIFY_THROWS_EXCEPTION(Error, fromScalarType(at::kComplexFloat));
}

void TestHfFolder::loadsFixtureWithConversion()
{
    const SafetensorsFile file = SafetensorsFile::open(fixture("reference.safetensors"));
    const at::Tensor bf16 = tensorFromSafetensors(file, *file.find("bf16"));
    QCOMPARE(bf16.scalar_type(), at::kBFloat16);
    const at::Tensor asFloat = tensorFromSafetensors(file, *file.find("bf16"), at::kFloat);
    QCOMPARE(asFloat.scalar_type(), at::kFloat);
    QVERIFY(asFloat.equal(torch::tensor({1.0f, -2.5f, 0.15625f, 384.0f})));
    // Integers keep their type under a float conversion.
    const at::Tensor i64 = tensorFromSafetensors(file, *file.find("i64"), at::kFloat);
    QCOMPARE(i64.scalar_type(), at::kLong);
    QCOMPARE(i64[2].item<int64_t>(), int64_t(9007199254740993LL));
    const at::Tensor f32 = tensorFromSafetensors(file, *file.find("f32")); // unaligned in the file
    QCOMPARE(f32.sizes().vec(), (std::vector<int64_t>{2, 3}));
    QCOMPARE(f32[1][2].item<float>(), 1024.0f);
    QVERIFY(tensorFromSafetensors(file, *file.find("bool"))
                .equal(torch::tensor({true, false, true})));
    QCOMPARE(tensorFromSafetensors(file, *file.find("scalar")).dim(), int64_t(0));
    QCOMPARE(tensorFromSafetensors(file, *file.find("empty")).numel(), int64_t(0));
    QCOMPARE(tensorFromSafetensors(file, *file.find("f16"), at::kFloat)[1][0].item<float>(),
             65504.0f);
}

void TestHfFolder::saveLoadRoundTrip_data()
{
    QTest::addColumn<int>("floatType");
    QTest::newRow("F32") << int(DType::F32);
    QTest::newRow("BF16") << int(DType::BF16);
    QTest::newRow("F16") << int(DType::F16);
}

void TestHfFolder::saveLoadRoundTrip()
{
    QFETCH(int, floatType);
    const DType d = static_cast<DType>(floatType);
    StateDict tensors{{"w", torch::randn({3, 5})},
                      {"half", torch::randn({7}).to(at::kBFloat16)},
                      {"ids", torch::arange(-3, 4, at::kLong)},
                      {"mask", torch::tensor({true, false})},
                      {"strided", torch::randn({4, 6}).t()}}; // non-contiguous source
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("t.safetensors")).toStdString();
    saveSafetensors(path, tensors, d);
    QCOMPARE(SafetensorsFile::open(path).metadata().at("format"), std::string("pt"));

    const StateDict loaded = loadSafetensors(path);
    QCOMPARE(loaded.size(), tensors.size());
    const at::ScalarType st = toScalarType(d);
    for (const char *name : {"w", "half", "strided"}) {
        QCOMPARE(loaded.at(name).scalar_type(), st);
        QVERIFY2(loaded.at(name).equal(tensors.at(name).to(st)), name);
    }
    QVERIFY(loaded.at("ids").equal(tensors.at("ids")));
    QVERIFY(loaded.at("mask").equal(tensors.at("mask")));

    const StateDict asFloat = loadSafetensors(path, {at::kFloat, {}, true});
    QCOMPARE(asFloat.at("w").scalar_type(), at::kFloat);
    QVERIFY(asFloat.at("w").equal(tensors.at("w").to(st).to(at::kFloat)));
    QCOMPARE(asFloat.at("ids").scalar_type(), at::kLong);

    QVERIFY_THROWS_EXCEPTION(Error, saveSafetensors(path, tensors, DType::I64));
}

void TestHfFolder::progressAndCancel()
{
    const std::string path = fixture("reference.safetensors");
    const std::uint64_t total = SafetensorsFile::open(path).header().tensors.back().end;
    std::vector<std::pair<int64_t, int64_t>> calls;
    LoadOptions options;
    options.progress = [&](int64_t done, int64_t all) {
        calls.emplace_back(done, all);
        return true;
    };
    loadSafetensors(path, options);
    QCOMPARE(calls.size(), std::size_t(1 + 9)); // once before, once per tensor
    QCOMPARE(calls.front().first, int64_t(0));
    QCOMPARE(calls.back().first, int64_t(total));
    for (std::size_t i = 1; i < calls.size(); ++i) {
        QVERIFY(calls[i].first >= calls[i - 1].first);
        QCOMPARE(calls[i].second, int64_t(total));
    }

    int seen = 0;
    options.progress = [&](int64_t, int64_t) { return ++seen < 3; };
    ErrorKind kind = ErrorKind::BadInput;
    const std::string message = errorText([&] { loadSafetensors(path, options); }, &kind);
    QCOMPARE(kind, ErrorKind::Interrupted);
    QVERIFY(message.find("cancelled") != std::string::npos);
    QCOMPARE(seen, 3);
}

void TestHfFolder::shardedFixture()
{
    const StateDict t = loadSafetensorsFolder(fixture("sharded"), {at::kFloat, {}, true});
    QCOMPARE(t.size(), std::size_t(3));
    QVERIFY(t.at("model.embed_tokens.weight").equal(torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
    QVERIFY(t.at("model.norm.weight").equal(torch::tensor({0.5f, 1.0f, -1.0f})));
    QCOMPARE(t.at("step").item<int64_t>(), int64_t(42));
}

void TestHfFolder::hfFolderRoundTrip()
{
    const ModelConfig config = tinyConfig();
    const StateDict weights = randomWeights(config);
    QTemporaryDir tmp;
    const std::string dir = tmp.filePath(QStringLiteral("model")).toStdString();

    SaveHfOptions options;
    options.dtype = DType::BF16;
    options.extraFiles["tokenizer.json"] = R"({"model": {"type": "BPE"}})";
    options.writeExtraFiles = [](const std::string &d) {
        std::ofstream(d + "/tokenizer_config.json") << R"({"model_max_length": 512})";
    };
    saveHfFolder(dir, config, weights, options);

    for (const char *name : {"config.json", "generation_config.json", "model.safetensors",
                             "tokenizer.json", "tokenizer_config.json"})
        QVERIFY2(fs::exists(dir + "/" + name), name);
    for (const auto &entry : fs::directory_iterator(tmp.path().toStdString()))
        QCOMPARE(entry.path().filename().string(), std::string("model")); // no staging left
    QVERIFY((fs::status(dir).permissions() & fs::perms::others_read) != fs::perms::none);
    QCOMPARE(slurp(dir + "/tokenizer.json"), std::string(R"({"model": {"type": "BPE"}})"));
    const auto gen = nlohmann::json::parse(slurp(dir + "/generation_config.json"));
    QCOMPARE(gen["bos_token_id"].get<int>(), 1);
    QCOMPARE(gen["eos_token_id"].get<int>(), 2);
    QCOMPARE(gen["pad_token_id"].get<int>(), 0);
    const auto cfg = nlohmann::json::parse(slurp(dir + "/config.json"));
    QCOMPARE(cfg["torch_dtype"].get<std::string>(), std::string("bfloat16"));
    QCOMPARE(cfg["architectures"][0].get<std::string>(), std::string("Qwen2ForCausalLM"));
    const SafetensorsFile file = SafetensorsFile::open(dir + "/model.safetensors");
    QVERIFY(!file.find("lm_head.weight")); // tied
    QCOMPARE(file.find("model.embed_tokens.weight")->dtype, DType::BF16);

    const ModelFolderInfo info = inspectModelFolder(dir);
    QVERIFY2(info.loadable(), info.problems.empty() ? "" : info.problems.front().c_str());
    QCOMPARE(info.architecture, std::string("Qwen2ForCausalLM"));
    QCOMPARE(info.parameterCount, config.parameterCount());
    QCOMPARE(info.storedParameterCount, config.parameterCount());
    QCOMPARE(info.weightBytes, std::uint64_t(config.parameterCount() * 2));
    QCOMPARE(info.storedDTypes, std::vector<std::string>{"BF16"});
    QCOMPARE(info.weightFiles, std::vector<std::string>{"model.safetensors"});
    QVERIFY(info.hasTokenizer);
    QVERIFY(info.hasGenerationConfig);
    QVERIFY(!info.sharded);
    QCOMPARE(info.tokenizerFiles,
             (std::vector<std::string>{"tokenizer.json", "tokenizer_config.json"}));
    QVERIFY(info.summary().find("Qwen2ForCausalLM") != std::string::npos);

    const HfModel model = loadHfFolder(dir, {at::kFloat, {}, true});
    QCOMPARE(model.config.parameterCount(), config.parameterCount());
    QCOMPARE(model.config.torchDtype, std::string("bfloat16"));
    QCOMPARE(model.config.eosTokenId, config.eosTokenId);
    QCOMPARE(model.tensors.size(), weights.size());
    for (const auto &[name, t] : weights) {
        const at::Tensor &got = model.tensors.at(name);
        QCOMPARE(got.scalar_type(), at::kFloat);
        QVERIFY2(got.equal(t.to(at::kBFloat16).to(at::kFloat)), name.c_str());
    }

    // Saving again replaces the folder as a whole.
    options.extraFiles.clear();
    options.writeExtraFiles = nullptr;
    options.dtype = DType::F32;
    saveHfFolder(dir, config, weights, options);
    QVERIFY(!fs::exists(dir + "/tokenizer.json"));
    const HfModel again = loadHfFolder(dir);
    QVERIFY(again.tensors.at("model.norm.weight").equal(weights.at("model.norm.weight")));
    QCOMPARE(std::distance(fs::directory_iterator(tmp.path().toStdString()),
                           fs::directory_iterator()),
             std::ptrdiff_t(1));
}

void TestHfFolder::tiedLmHeadIsDropped()
{
    const ModelConfig config = tinyConfig();
    StateDict weights = randomWeights(config);
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString();
    // A tied checkpoint that stores lm_head anyway (some exporters do) still loads.
    weights.emplace("lm_head.weight", weights.at("model.embed_tokens.weight"));
    std::ofstream(dir + "/config.json") << modelConfigToJson(config);
    saveSafetensors(dir + "/model.safetensors", weights, DType::F32);
    QVERIFY(inspectModelFolder(dir).loadable());
    const HfModel model = loadHfFolder(dir);
    QVERIFY(!model.tensors.count("lm_head.weight"));
    QCOMPARE(model.tensors.size(), weights.size() - 1);

    // saveHfFolder leaves it out as well.
    const std::string out = dir + "/saved";
    saveHfFolder(out, config, weights);
    QVERIFY(!SafetensorsFile::open(out + "/model.safetensors").find("lm_head.weight"));

    // Untied: lm_head is required.
    ModelConfig untied = config;
    untied.tieWordEmbeddings = false;
    StateDict untiedWeights = randomWeights(untied);
    saveHfFolder(out, untied, untiedWeights);
    QVERIFY(SafetensorsFile::open(out + "/model.safetensors").find("lm_head.weight"));
    QVERIFY(loadHfFolder(out).tensors.count("lm_head.weight"));
}

void TestHfFolder::strictLoadReportsMismatch()
{
    const ModelConfig config = tinyConfig();
    QTemporaryDir tmp;
    const std::string dir = tmp.filePath(QStringLiteral("m")).toStdString();
    saveHfFolder(dir, config, randomWeights(config));

    ModelConfig wrong = config;
    wrong.intermediateSize = 128;
    wrong.numHiddenLayers = 3;
    std::ofstream(dir + "/config.json", std::ios::trunc) << modelConfigToJson(wrong);
    ErrorKind kind = ErrorKind::Runtime;
    const std::string message = errorText([&] { loadHfFolder(dir); }, &kind);
    QCOMPARE(kind, ErrorKind::BadInput);
    QVERIFY2(message.find("missing") != std::string::npos, message.c_str());
    QVERIFY2(message.find("model.layers.2.") != std::string::npos, message.c_str());
    QVERIFY2(message.find("shape mismatch: model.layers.0.mlp.down_proj.weight expected "
                          "[64, 128] got [64, 172]")
                 != std::string::npos,
             message.c_str());

    LoadOptions lenient;
    lenient.strict = false;
    const HfModel model = loadHfFolder(dir, lenient);
    std::vector<TensorShape> expected;
    for (const HfTensorSpec &s : hfTensorShapes(model.config))
        expected.push_back({s.name, s.shape});
    const StateDictDiff diff = diffStateDict(expected, tensorShapes(model.tensors));
    QCOMPARE(diff.missing.size(), std::size_t(12)); // layer 2's tensors
    QVERIFY(diff.unexpected.empty());
    QCOMPARE(diff.shapeMismatches.size(), std::size_t(6)); // gate/up/down in layers 0 and 1

    const ModelFolderInfo info = inspectModelFolder(dir);
    QVERIFY(!info.loadable());
    QVERIFY(info.problems.front().find("do not match config.json") != std::string::npos);
}

void TestHfFolder::saveReplacesOnlyModelFolders()
{
    const ModelConfig config = tinyConfig();
    const StateDict weights = randomWeights(config);
    QTemporaryDir tmp;
    const std::string dir = tmp.filePath(QStringLiteral("precious")).toStdString();
    fs::create_directories(dir);
    std::ofstream(dir + "/notes.txt") << "keep me";
    ErrorKind kind = ErrorKind::Runtime;
    const std::string message = errorText([&] { saveHfFolder(dir, config, weights); }, &kind);
    QCOMPARE(kind, ErrorKind::BadInput);
    QVERIFY2(message.find("refusing to replace") != std::string::npos, message.c_str());
    QCOMPARE(slurp(dir + "/notes.txt"), std::string("keep me"));

    const std::string file = tmp.filePath(QStringLiteral("file")).toStdString();
    std::ofstream(file) << "x";
    QVERIFY(errorText([&] { saveHfFolder(file, config, weights); }).find("not a folder")
            != std::string::npos);

    // An empty folder is fine; nested parents are created.
    const std::string empty = tmp.filePath(QStringLiteral("empty")).toStdString();
    fs::create_directories(empty);
    saveHfFolder(empty, config, weights);
    saveHfFolder(tmp.filePath(QStringLiteral("a/b/c")).toStdString(), config, weights);
    QVERIFY(inspectModelFolder(tmp.filePath(QStringLiteral("a/b/c")).toStdString()).loadable());
}

void TestHfFolder::saveRejectsMismatchedTensors()
{
    const ModelConfig config = tinyConfig();
    StateDict weights = randomWeights(config);
    weights.erase("model.norm.weight");
    weights.emplace("extra", torch::zeros({1}));
    QTemporaryDir tmp;
    const std::string dir = tmp.filePath(QStringLiteral("m")).toStdString();
    ErrorKind kind = ErrorKind::BadInput;
    const std::string message = errorText([&] { saveHfFolder(dir, config, weights); }, &kind);
    QCOMPARE(kind, ErrorKind::Runtime);
    QVERIFY2(message.find("missing 1 tensor (model.norm.weight)") != std::string::npos,
             message.c_str());
    QVERIFY2(message.find("unexpected 1 tensor (extra)") != std::string::npos, message.c_str());
    QVERIFY(!fs::exists(dir));

    SaveHfOptions options;
    options.extraFiles["../escape.json"] = "{}";
    QVERIFY(!errorText([&] { saveHfFolder(dir, config, randomWeights(config), options); })
                 .empty());
    QVERIFY(!fs::exists(dir));
}

void TestHfFolder::inspectReportsProblems()
{
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString();
    ModelFolderInfo info = inspectModelFolder(dir);
    QCOMPARE(info.problems.size(), std::size_t(2)); // no config.json, no weights
    QVERIFY(!info.hasTokenizer);

    nlohmann::json config = nlohmann::json::parse(modelConfigToJson(tinyConfig()));
    config["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
    std::ofstream(dir + "/config.json") << config.dump();
    fs::copy_file(fixture("reference.safetensors"), dir + "/model.safetensors");
    info = inspectModelFolder(dir);
    QCOMPARE(info.architecture, std::string("Qwen2ForCausalLM")); // known despite the problem
    QVERIFY(!info.config);
    QCOMPARE(info.problems.size(), std::size_t(1));
    QVERIFY(info.problems.front().find("rope_scaling") != std::string::npos);
    QCOMPARE(info.storedParameterCount, int64_t(4 + 3 + 0 + 4 + 6 + 2 + 3 + 1 + 2));

    QVERIFY_THROWS_EXCEPTION(Error, inspectModelFolder(dir + "/missing"));
}

QTEST_GUILESS_MAIN(TestHfFolder)
#include "tst_hf_folder.moc"
