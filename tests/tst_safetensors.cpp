// The safetensors reader and writer (Torch-free part): fixtures written by an independent
// Python script, writer round trips and layout, sharded folders, a table of corrupt files, and
// state-dict matching.

#include "core/common/error.h"
#include "training/io/safetensors.h"

#include <QtTest/QtTest>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace genrec::train;
using genrec::core::Error;
using genrec::core::ErrorKind;

namespace {

std::string fixture(const std::string &rel)
{
    return qEnvironmentVariable("GENREC_FIXTURES").toStdString() + "/safetensors/" + rel;
}

std::string readBytes(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeBytes(const std::string &path, const std::string &bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A safetensors file: length field (or `lengthOverride`), header text, `dataBytes` data bytes.
std::string makeFile(const std::string &header, std::size_t dataBytes,
                     std::optional<std::uint64_t> lengthOverride = std::nullopt)
{
    const std::uint64_t length = lengthOverride.value_or(header.size());
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &length, 8);
    bytes += header;
    bytes.append(dataBytes, '\x01');
    return bytes;
}

template<typename T>
std::vector<T> valuesOf(const SafetensorsFile &file, const TensorInfo &info)
{
    const auto bytes = file.bytes(info);
    std::vector<T> values(bytes.size() / sizeof(T));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
}

template<typename T>
std::span<const std::byte> asBytes(const std::vector<T> &v)
{
    return std::as_bytes(std::span<const T>(v));
}

/// Runs f, expects core::Error(BadInput) whose message contains every fragment; returns it.
template<typename F>
std::string expectBadInput(F &&f, const std::vector<std::string> &fragments)
{
    try {
        f();
    } catch (const Error &e) {
        if (e.kind() != ErrorKind::BadInput)
            return std::string("wrong kind: ") + e.what();
        for (const std::string &frag : fragments) {
            if (std::string(e.what()).find(frag) == std::string::npos)
                return "message '" + std::string(e.what()) + "' lacks '" + frag + "'";
        }
        return {};
    }
    return "no error thrown";
}

} // namespace

class TestSafetensors : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void dtypeTable();
    void readsIndependentFixture();
    void roundTrip_data();
    void roundTrip();
    void writerMatchesIndependentBytes();
    void writerAlignsMixedDtypes();
    void writerIsAtomic();
    void shardedFolder();
    void shardedFolderErrors_data();
    void shardedFolderErrors();
    void folderWithoutWeights();
    void corruptFiles_data();
    void corruptFiles();
    void mutatedFilesNeverCrash();
    void stateDictDiff();
};

void TestSafetensors::dtypeTable()
{
    for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                    DType::I16, DType::I8, DType::U8, DType::Bool}) {
        QCOMPARE(dtypeFromName(dtypeName(d)), std::optional<DType>(d));
    }
    QCOMPARE(dtypeSize(DType::BF16), std::size_t(2));
    QCOMPARE(dtypeSize(DType::I64), std::size_t(8));
    QCOMPARE(dtypeName(DType::Bool), std::string_view("BOOL"));
    QVERIFY(!dtypeFromName("F8_E4M3"));
    QVERIFY(!dtypeFromName("f32"));
    QCOMPARE(dtypeFromTorchName("bfloat16"), std::optional<DType>(DType::BF16));
    QCOMPARE(torchDtypeName(DType::F16), std::string("float16"));
}

void TestSafetensors::readsIndependentFixture()
{
    const SafetensorsFile file = SafetensorsFile::open(fixture("reference.safetensors"));
    QCOMPARE(file.tensors().size(), std::size_t(9));
    QCOMPARE(file.metadata().at("format"), std::string("pt"));
    QCOMPARE(file.metadata().at("source"), std::string("make_fixtures.py"));

    const TensorInfo *f32 = file.find("f32");
    QVERIFY(f32);
    QCOMPARE(f32->dtype, DType::F32);
    QCOMPARE(f32->shape, (std::vector<std::int64_t>{2, 3}));
    QCOMPARE(valuesOf<float>(file, *f32),
             (std::vector<float>{0.5f, -1.25f, 2.0f, 3.75f, -0.125f, 1024.0f}));

    // bf16 = upper half of the float32 bits.
    const TensorInfo *bf16 = file.find("bf16");
    QVERIFY(bf16);
    std::vector<float> decoded;
    for (std::uint16_t h : valuesOf<std::uint16_t>(file, *bf16)) {
        const std::uint32_t bits = std::uint32_t(h) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        decoded.push_back(f);
    }
    QCOMPARE(decoded, (std::vector<float>{1.0f, -2.5f, 0.15625f, 384.0f}));

    // IEEE half bit patterns of 0.5, -0.75, 65504, 2^-10.
    QCOMPARE(valuesOf<std::uint16_t>(file, *file.find("f16")),
             (std::vector<std::uint16_t>{0x3800, 0xBA00, 0x7BFF, 0x1400}));
    QCOMPARE(valuesOf<std::int64_t>(file, *file.find("i64")),
             (std::vector<std::int64_t>{-1, 0, 9007199254740993LL}));
    QCOMPARE(valuesOf<std::int32_t>(file, *file.find("i32")),
             (std::vector<std::int32_t>{-7, 2147483647}));
    QCOMPARE(valuesOf<std::uint8_t>(file, *file.find("u8")), (std::vector<std::uint8_t>{0, 255}));
    QCOMPARE(valuesOf<std::uint8_t>(file, *file.find("bool")),
             (std::vector<std::uint8_t>{1, 0, 1}));

    const TensorInfo *scalar = file.find("scalar");
    QVERIFY(scalar && scalar->shape.empty());
    QCOMPARE(scalar->numel(), std::int64_t(1));
    QCOMPARE(valuesOf<float>(file, *scalar), std::vector<float>{7.0f});
    const TensorInfo *empty = file.find("empty");
    QVERIFY(empty);
    QCOMPARE(empty->numel(), std::int64_t(0));
    QCOMPARE(file.bytes(*empty).size(), std::size_t(0));
    QVERIFY(!file.find("missing"));
}

void TestSafetensors::roundTrip_data()
{
    QTest::addColumn<int>("dtype");
    QTest::addColumn<QList<qint64>>("shape");
    QTest::newRow("F32 [3, 5]") << int(DType::F32) << QList<qint64>{3, 5};
    QTest::newRow("BF16 [7]") << int(DType::BF16) << QList<qint64>{7};
    QTest::newRow("F16 [2, 2, 2]") << int(DType::F16) << QList<qint64>{2, 2, 2};
    QTest::newRow("I64 [4]") << int(DType::I64) << QList<qint64>{4};
    QTest::newRow("I32 scalar") << int(DType::I32) << QList<qint64>{};
    QTest::newRow("U8 [0, 9]") << int(DType::U8) << QList<qint64>{0, 9};
    QTest::newRow("BOOL [3]") << int(DType::Bool) << QList<qint64>{3};
}

void TestSafetensors::roundTrip()
{
    QFETCH(int, dtype);
    QFETCH(QList<qint64>, shape);
    const DType d = static_cast<DType>(dtype);
    const std::vector<std::int64_t> dims(shape.begin(), shape.end());
    std::int64_t numel = 1;
    for (auto s : dims)
        numel *= s;
    std::vector<std::uint8_t> data(static_cast<std::size_t>(numel) * dtypeSize(d));
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = d == DType::Bool ? std::uint8_t(i % 2) : std::uint8_t(i * 37 + 11);
    // A second tensor of another size so the layout has more than one entry.
    const std::vector<std::int64_t> other{-5, 6};

    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("t.safetensors")).toStdString();
    writeSafetensors(path,
                     {{{"x", d, dims}, asBytes(data)}, {{"other", DType::I64, {2}}, asBytes(other)}},
                     {{"format", "pt"}});

    const SafetensorsFile file = SafetensorsFile::open(path);
    const TensorInfo *x = file.find("x");
    QVERIFY(x);
    QCOMPARE(x->dtype, d);
    QCOMPARE(x->shape, dims);
    QCOMPARE(valuesOf<std::uint8_t>(file, *x), data);
    QCOMPARE(valuesOf<std::int64_t>(file, *file.find("other")), other);
    QCOMPARE(file.metadata().at("format"), std::string("pt"));
}

void TestSafetensors::writerMatchesIndependentBytes()
{
    // The same tensors as WRITER_TENSORS in make_fixtures.py, given in another order.
    const std::vector<float> a{1.5f, -0.25f, 8.0f, 0.0f};
    const std::vector<std::uint16_t> b{0x3F80, 0xC000, 0x3F00}; // bf16 1.0, -2.0, 0.5
    const std::vector<std::int64_t> c{-3, 5};
    const std::vector<std::uint8_t> d{7};
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("w.safetensors")).toStdString();
    writeSafetensors(path,
                     {{{"d.u8", DType::U8, {1}}, asBytes(d)},
                      {{"a.f32", DType::F32, {2, 2}}, asBytes(a)},
                      {{"b.bf16", DType::BF16, {3}}, asBytes(b)},
                      {{"c.i64", DType::I64, {2}}, asBytes(c)}},
                     {{"format", "pt"}});
    QCOMPARE(readBytes(path), readBytes(fixture("writer_expected.safetensors")));
}

void TestSafetensors::writerAlignsMixedDtypes()
{
    const std::vector<std::uint8_t> odd(3, 1);
    const std::vector<std::uint16_t> half(5, 2);
    const std::vector<float> f(3, 1.0f);
    const std::vector<double> g(1, 2.0);
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("a.safetensors")).toStdString();
    writeSafetensors(path, {{{"a", DType::U8, {3}}, asBytes(odd)},
                            {{"b", DType::BF16, {5}}, asBytes(half)},
                            {{"c", DType::F32, {3}}, asBytes(f)},
                            {{"d", DType::F64, {1}}, asBytes(g)}});
    const std::string bytes = readBytes(path);
    std::uint64_t headerLength = 0;
    std::memcpy(&headerLength, bytes.data(), 8);
    QCOMPARE(headerLength % 8, std::uint64_t(0));
    QVERIFY(bytes.substr(8, headerLength).find_last_not_of(' ') < headerLength); // space padding
    const SafetensorsFile file = SafetensorsFile::open(path);
    for (const TensorInfo &t : file.tensors())
        QCOMPARE((8 + headerLength + t.begin) % dtypeSize(t.dtype), std::uint64_t(0));
    QCOMPARE(file.tensors().front().name, std::string("d")); // largest element size first
}

void TestSafetensors::writerIsAtomic()
{
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("x.safetensors")).toStdString();
    const std::vector<float> v{1.0f, 2.0f};
    {
        SafetensorsWriter writer(path, {{"v", DType::F32, {2}}});
        QVERIFY(std::filesystem::exists(path + ".tmp"));
        QVERIFY(!std::filesystem::exists(path));
        // Wrong byte count.
        QVERIFY_THROWS_EXCEPTION(Error, writer.write(asBytes(std::vector<float>{1.0f})));
        // Commit before every tensor is written.
        QVERIFY_THROWS_EXCEPTION(Error, writer.commit());
    }
    QVERIFY(!std::filesystem::exists(path + ".tmp")); // abandoned writers leave nothing
    QVERIFY(!std::filesystem::exists(path));

    SafetensorsWriter writer(path, {{"v", DType::F32, {2}}});
    writer.write(asBytes(v));
    writer.commit();
    QVERIFY(std::filesystem::exists(path));
    QVERIFY(!std::filesystem::exists(path + ".tmp"));
    QCOMPARE(valuesOf<float>(SafetensorsFile::open(path), *SafetensorsFile::open(path).find("v")),
             v);

    // Duplicate names are refused before anything is written.
    QVERIFY_THROWS_EXCEPTION(Error, SafetensorsWriter(path, {{"v", DType::F32, {1}},
                                                             {"v", DType::F32, {1}}}));
}

void TestSafetensors::shardedFolder()
{
    const SafetensorsSet set = openSafetensorsFolder(fixture("sharded"));
    QCOMPARE(set.files.size(), std::size_t(2));
    QCOMPARE(set.tensors.size(), std::size_t(3));
    const auto &[embedFile, embed] = set.tensors.at("model.embed_tokens.weight");
    QVERIFY(set.files[embedFile].path().ends_with("model-00001-of-00002.safetensors"));
    QCOMPARE(valuesOf<float>(set.files[embedFile], *embed),
             (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
    const auto &[stepFile, step] = set.tensors.at("step");
    QVERIFY(set.files[stepFile].path().ends_with("model-00002-of-00002.safetensors"));
    QCOMPARE(valuesOf<std::int64_t>(set.files[stepFile], *step), std::vector<std::int64_t>{42});
    QCOMPARE(set.tensors.at("model.norm.weight").second->dtype, DType::BF16);
    QCOMPARE(set.totalBytes(), std::uint64_t(16 + 6 + 8));
}

void TestSafetensors::shardedFolderErrors_data()
{
    QTest::addColumn<QString>("index");
    QTest::addColumn<QString>("reason");
    QTest::newRow("tensor not in shard")
        << R"({"weight_map": {"ghost": "model-00001-of-00002.safetensors"}})"
        << "is listed in model.safetensors.index.json but not stored here";
    QTest::newRow("path traversal")
        << R"({"weight_map": {"step": "../model-00002-of-00002.safetensors"}})"
        << "not a plain file name";
    QTest::newRow("missing shard") << R"({"weight_map": {"step": "model-00009.safetensors"}})"
                                   << "cannot open";
    QTest::newRow("no weight_map") << R"({"metadata": {}})" << "weight_map";
    QTest::newRow("empty weight_map") << R"({"weight_map": {}})" << "weight_map is empty";
    QTest::newRow("bad JSON") << R"({"weight_map": )" << "not valid JSON";
}

void TestSafetensors::shardedFolderErrors()
{
    QFETCH(QString, index);
    QFETCH(QString, reason);
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString();
    for (const char *shard : {"model-00001-of-00002.safetensors",
                              "model-00002-of-00002.safetensors"})
        std::filesystem::copy_file(fixture(std::string("sharded/") + shard),
                                   dir + "/" + shard);
    writeBytes(dir + "/model.safetensors.index.json", index.toStdString());
    const std::string problem =
        expectBadInput([&] { openSafetensorsFolder(dir); }, {reason.toStdString()});
    QVERIFY2(problem.empty(), problem.c_str());
}

void TestSafetensors::folderWithoutWeights()
{
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString();
    std::string problem = expectBadInput([&] { openSafetensorsFolder(dir); },
                                         {dir, "no model.safetensors"});
    QVERIFY2(problem.empty(), problem.c_str());
    writeBytes(dir + "/pytorch_model.bin", "x");
    try {
        openSafetensorsFolder(dir);
        QFAIL("expected an error");
    } catch (const Error &e) {
        QVERIFY(e.hint().find("pytorch_model.bin") != std::string::npos);
    }
    // Two unrelated files without an index are ambiguous.
    std::filesystem::copy_file(fixture("reference.safetensors"), dir + "/a.safetensors");
    std::filesystem::copy_file(fixture("reference.safetensors"), dir + "/b.safetensors");
    problem = expectBadInput([&] { openSafetensorsFolder(dir); }, {"several .safetensors files"});
    QVERIFY2(problem.empty(), problem.c_str());
    problem = expectBadInput([&] { openSafetensorsFolder(dir + "/nope"); }, {"not a folder"});
    QVERIFY2(problem.empty(), problem.c_str());
}

void TestSafetensors::corruptFiles_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("reason");
    auto row = [](const char *name, const std::string &bytes, const char *reason) {
        QTest::newRow(name) << QByteArray(bytes.data(), qsizetype(bytes.size()))
                            << QString::fromUtf8(reason);
    };
    const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string okFile = makeFile(ok, 8);

    row("header length larger than file", makeFile(ok, 8, 4096), "is larger than the file");
    row("header length huge", makeFile(ok, 8, std::uint64_t(1) << 62), "exceeds the limit");
    row("file shorter than length field", std::string("\x05\0\0", 3), "too short");
    row("empty file", std::string(), "too short");
    row("truncated data", okFile.substr(0, okFile.size() - 3), "out of range");
    row("bad JSON", makeFile(R"({"a":{"dtype":"F32",)", 8), "not valid JSON");
    row("binary garbage", makeFile(std::string("\xff\xfe\x00\x01", 4), 0), "not valid JSON");
    row("header not an object", makeFile("[1, 2]", 0), "not a JSON object");
    row("unknown dtype",
        makeFile(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
        "unknown or unsupported dtype 'F8_E4M3'");
    row("missing dtype", makeFile(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8),
        "missing dtype");
    row("offsets out of range",
        makeFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
        "out of range");
    row("offsets end before begin",
        makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
        "is before begin");
    row("overlapping offsets",
        makeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 12),
        "overlapping data_offsets");
    row("hole between tensors",
        makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                 12),
        "hole");
    row("trailing bytes", makeFile(ok, 16), "belong to no tensor");
    row("shape x dtype mismatch",
        makeFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
        "shape/dtype size mismatch");
    row("negative shape",
        makeFile(R"({"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})", 8),
        "negative or non-integer dimension");
    row("fractional shape",
        makeFile(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
        "negative or non-integer dimension");
    row("overflowing shape",
        makeFile(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                 R"("data_offsets":[0,8]}})",
                 8),
        "overflows the element count");
    row("shape x dtype size overflow",
        makeFile(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})",
                 8),
        "overflows the element count");
    row("too many dimensions",
        makeFile(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],)"
                 R"("data_offsets":[0,1]}})",
                 1),
        "dimensions");
    row("offsets not integers",
        makeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8),
        "data_offsets must be two non-negative integers");
    row("duplicate tensor name",
        makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 8),
        "has the key 'a' twice");
    row("metadata not strings", makeFile(R"({"__metadata__":{"n":1}})", 0), "is not a string");
    row("nested too deep", makeFile(R"({"a":{"dtype":{"x":[1]}}})", 0), "nested deeper");
}

void TestSafetensors::corruptFiles()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, reason);
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("bad.safetensors")).toStdString();
    writeBytes(path, bytes.toStdString());
    const std::string problem =
        expectBadInput([&] { SafetensorsFile::open(path); }, {path, reason.toStdString()});
    QVERIFY2(problem.empty(), problem.c_str());
}

void TestSafetensors::mutatedFilesNeverCrash()
{
    // Every single-byte mutation and every truncation of a valid file either opens (and then
    // every tensor lies inside the file) or throws BadInput; nothing else.
    const std::string good = readBytes(fixture("writer_expected.safetensors"));
    QTemporaryDir tmp;
    const std::string path = tmp.filePath(QStringLiteral("m.safetensors")).toStdString();
    int opened = 0, rejected = 0;
    auto attempt = [&](const std::string &bytes) {
        writeBytes(path, bytes);
        try {
            const SafetensorsFile file = SafetensorsFile::open(path);
            for (const TensorInfo &t : file.tensors()) {
                const auto span = file.bytes(t);
                QVERIFY(t.end <= file.fileSize());
                QCOMPARE(span.size(), std::size_t(t.numel()) * dtypeSize(t.dtype));
            }
            ++opened;
        } catch (const Error &e) {
            QCOMPARE(e.kind(), ErrorKind::BadInput);
            ++rejected;
        }
    };
    for (std::size_t i = 0; i < good.size(); ++i) {
        for (char c : {'\0', '\xff', '9'}) {
            std::string bytes = good;
            bytes[i] = c;
            attempt(bytes);
        }
        attempt(good.substr(0, i));
    }
    QVERIFY(opened > 0);   // mutations of tensor data keep the file valid
    QVERIFY(rejected > 0);
}

void TestSafetensors::stateDictDiff()
{
    const std::vector<TensorShape> expected{{"a", {2, 3}}, {"b", {4}}, {"c", {1}}};
    const std::vector<TensorShape> loaded{{"a", {3, 2}}, {"b", {4}}, {"z", {1}}};
    const StateDictDiff diff = diffStateDict(expected, loaded);
    QCOMPARE(diff.missing, std::vector<std::string>{"c"});
    QCOMPARE(diff.unexpected, std::vector<std::string>{"z"});
    QCOMPARE(diff.shapeMismatches.size(), std::size_t(1));
    QCOMPARE(diff.shapeMismatches[0].name, std::string("a"));
    QCOMPARE(diff.describe(), std::string("missing 1 tensor (c); unexpected 1 tensor (z); shape "
                                          "mismatch: a expected [2, 3] got [3, 2]"));
    QVERIFY(diffStateDict(expected, expected).empty());

    const std::string problem = expectBadInput(
        [&] { checkStateDict(expected, loaded, "ckpt"); },
        {"ckpt: state dict does not match the model", "missing 1 tensor (c)", "(z)"});
    QVERIFY2(problem.empty(), problem.c_str());
    checkStateDict(expected, expected, "ckpt"); // no throw

    std::vector<TensorShape> many;
    for (int i = 0; i < 12; ++i)
        many.push_back({"t" + std::to_string(i), {1}});
    const std::string text = diffStateDict(many, {}).describe(3);
    QCOMPARE(text, std::string("missing 12 tensors (t0, t1, t10, … 9 more)"));
}

QTEST_APPLESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
