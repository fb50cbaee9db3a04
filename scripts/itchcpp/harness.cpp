// itchcpp (PyPI's C++20 ITCH 5.0 parser and L3 book engine) on the same
// in-memory bytes as tickline's feed-bench: parse only, and parse plus
// books, PASSES timed passes after one warm-up, median printed as one JSON
// line per case; then the final books, "locate side price shares" per level,
// best first, to compare with tickline's.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "itch/book/book_manager.hpp"
#include "itch/parser.hpp"

namespace {

template <class F>
auto median_ns(int passes, F&& pass) -> long long {
    pass();  // warm-up
    std::vector<long long> t;
    for (int i = 0; i < passes; ++i) {
        auto a = std::chrono::steady_clock::now();
        pass();
        auto b = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s ITCH_FILE PASSES BOOKS_OUT\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int passes = std::stoi(argv[2]);
    itch::Parser parser;
    std::size_t messages = 0;
    auto parse_only = [&] {
        messages = 0;
        parser.parse(data.data(), data.size(), [&](const itch::Message& m) {
            asm volatile("" : : "r"(&m) : "memory");
            ++messages;
        });
    };
    auto parse_book = [&] {
        itch::book::BookManager books;
        parser.parse(data.data(), data.size(), [&](const itch::Message& m) { books.process(m); });
        asm volatile("" : : "r"(&books) : "memory");
    };
    long long p = median_ns(passes, parse_only);
    long long b = median_ns(passes, parse_book);
    std::printf("{\"case\":\"ITCH parse only: itchcpp\",\"messages\":%zu,\"bytes\":%zu,\"ns\":%lld}\n",
                messages, data.size(), p);
    std::printf("{\"case\":\"ITCH parse + L3 book: itchcpp\",\"messages\":%zu,\"bytes\":%zu,\"ns\":%lld}\n",
                messages, data.size(), b);

    itch::book::BookManager books;
    parser.parse(data.data(), data.size(), [&](const itch::Message& m) { books.process(m); });
    std::FILE* out = std::fopen(argv[3], "w");
    for (std::uint16_t locate = 0; locate < 65535; ++locate) {
        const auto* book = books.book(locate);
        if (book == nullptr) continue;
        for (auto side : {itch::book::Side::buy, itch::book::Side::sell}) {
            for (const auto& level : book->depth(side)) {
                std::fprintf(out, "%u %c %u %llu\n", locate, static_cast<char>(side),
                             level.price.raw(), static_cast<unsigned long long>(level.shares));
            }
        }
    }
    std::fclose(out);
    return 0;
}
