#include "training/sft/sft_data.h"

#include "core/common/error.h"

#include <algorithm>
#include <mutex>
#include <thread>

namespace genrec::train {

TokenizedExample tokenizeExample(const BpeTokenizer &tokenizer, const SftExample &example, int64_t cutoffLen)
{
    const int32_t eos = tokenizer.eosTokenId();
    if (eos < 0)
        core::throwBadInput("tokenizer has no EOS token", "set eos_token in tokenizer_config.json");
    TokenizedExample out;
    for (const std::string *part : {&example.preamble, &example.user}) {
        const auto ids = tokenizer.encode(*part);
        out.inputIds.insert(out.inputIds.end(), ids.begin(), ids.end());
    }
    out.labels.assign(out.inputIds.size(), kIgnoreLabel);
    auto response = tokenizer.encode(example.response);
    response.push_back(eos);
    out.inputIds.insert(out.inputIds.end(), response.begin(), response.end());
    out.labels.insert(out.labels.end(), response.begin(), response.end());
    if (cutoffLen > 0 && static_cast<int64_t>(out.inputIds.size()) > cutoffLen) {
        const auto drop = static_cast<std::ptrdiff_t>(out.inputIds.size() - static_cast<size_t>(cutoffLen));
        out.inputIds.erase(out.inputIds.begin(), out.inputIds.begin() + drop);
        out.labels.erase(out.labels.begin(), out.labels.begin() + drop);
    }
    return out;
}

std::vector<TokenizedExample> tokenizeExamples(const BpeTokenizer &tokenizer,
                                               const std::vector<SftExample> &examples, int64_t cutoffLen)
{
    std::vector<TokenizedExample> out(examples.size());
    const size_t workers = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), 8));
    std::vector<std::thread> pool;
    std::exception_ptr failure;
    std::mutex failureMutex;
    for (size_t w = 0; w < workers; ++w) {
        pool.emplace_back([&, w] {
            try {
                for (size_t i = w; i < examples.size(); i += workers)
                    out[i] = tokenizeExample(tokenizer, examples[i], cutoffLen);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failureMutex);
                failure = std::current_exception();
            }
        });
    }
    for (auto &t : pool)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
    return out;
}

} // namespace genrec::train
