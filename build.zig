//! edgegw build: `zig build` (binary), `zig build test` (every test), `zig build demo`.
//! Pinned to Zig 0.14.1 (scripts/install-deps.sh installs exactly that).
const std = @import("std");

/// Debian's BoringSSL build lives beside, not in, the default library path; its
/// sonames (libssl.so.0, libcrypto.so.0) differ from OpenSSL's, so an rpath finds them.
const boringssl_include = "/usr/include/android";
const boringssl_lib = "/usr/lib/x86_64-linux-gnu/android";
const llhttp_src = "/usr/share/llhttp";
const llhttp_include = "/usr/share/include/llhttp";

/// Our code's warnings are errors; third-party sources compiled in get their own flags.
const our_cflags = [_][]const u8{
    "-std=c17",          "-Wall",   "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes",
    "-Wno-unused-parameter", "-D_GNU_SOURCE", "-fno-omit-frame-pointer",
};
const llhttp_cflags = [_][]const u8{ "-std=c11", "-w", "-fno-sanitize=undefined" };

/// Subsystems (folders of src/) and what each one links against, so that a unit suite
/// builds with only the code it tests. Roles, core and cli see everything.
const Subsystem = struct { name: []const u8, deps: []const []const u8 };
const subsystems = [_]Subsystem{
    .{ .name = "util", .deps = &.{} },
    .{ .name = "config", .deps = &.{ "util", "auth" } },
    .{ .name = "keys", .deps = &.{"util"} },
    .{ .name = "auth", .deps = &.{"util"} },
    .{ .name = "http", .deps = &.{"util"} },
    .{ .name = "store", .deps = &.{"util"} },
    .{ .name = "tls", .deps = &.{ "util", "config", "keys", "auth" } },
    .{ .name = "roles", .deps = &.{ "util", "config", "keys", "auth", "http", "tls", "store", "core" } },
    .{ .name = "core", .deps = &.{ "util", "config", "keys", "auth", "http", "tls", "store", "roles" } },
    .{ .name = "cli", .deps = &.{ "util", "config", "keys", "auth", "http", "tls", "store", "roles", "core" } },
};

pub fn build(b: *std.Build) !void {
    // The default CPU is x86-64-v3 (AVX2), not the build host's: the binary runs on any
    // current server, and under valgrind, whose 3.19 cannot decode AVX-512.
    // `-Dcpu=native` builds for the host instead.
    const target = b.standardTargetOptions(.{ .default_target = defaultTarget() });
    const optimize = b.standardOptimizeOption(.{ .preferred_optimize_mode = .ReleaseSafe });

    const exe = b.addExecutable(.{
        .name = "edgegw",
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    const all = [_][]const u8{ "util", "config", "keys", "auth", "http", "tls", "store", "roles", "core", "cli" };
    for (all) |sub| try addSubsystemSources(b, exe, sub);
    exe.addCSourceFile(.{ .file = b.path("src/main.c"), .flags = &our_cflags });
    linkDeps(b, exe);
    b.installArtifact(exe);

    // The e2e tests' PSK client (Python's ssl has no TLS-PSK): BoringSSL only.
    const psk_load = b.addExecutable(.{
        .name = "egw-psk-load",
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    psk_load.addCSourceFile(.{ .file = b.path("test/e2e/tools/psk_load.c"), .flags = &our_cflags });
    psk_load.addIncludePath(.{ .cwd_relative = boringssl_include });
    psk_load.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libssl.so" });
    psk_load.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libcrypto.so" });
    psk_load.addRPath(.{ .cwd_relative = boringssl_lib });
    b.installArtifact(psk_load);

    // The load generator (bench/loadgen): a client on libuv + BoringSSL (+ jansson for
    // the EEC flow's answers), linked like edgegw; no code from src/.
    const bench_exe = b.addExecutable(.{
        .name = "edgegw-bench",
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    try addDirSources(b, bench_exe, "bench/loadgen");
    bench_exe.addIncludePath(.{ .cwd_relative = boringssl_include });
    bench_exe.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libssl.so" });
    bench_exe.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libcrypto.so" });
    bench_exe.addRPath(.{ .cwd_relative = boringssl_lib });
    bench_exe.linkSystemLibrary("uv");
    bench_exe.linkSystemLibrary("jansson");
    b.installArtifact(bench_exe);

    // The dev PKI, generated once before any suite needs it (certs/gen.sh is idempotent).
    const certs = b.addSystemCommand(&.{ "bash", "certs/gen.sh" });
    certs.setCwd(b.path("."));
    certs.has_side_effects = true;

    // Unit suites: one Criterion executable per folder of test/unit/.
    const unit_step = b.step("unit", "Build and run the Criterion unit suites");
    for (subsystems) |s| {
        var dir = b.build_root.handle.openDir(b.fmt("test/unit/{s}", .{s.name}), .{ .iterate = true }) catch continue;
        defer dir.close();
        if (!try hasCFiles(dir)) continue;
        const t = b.addExecutable(.{
            .name = b.fmt("unit-{s}", .{s.name}),
            .target = target,
            .optimize = .Debug,
            .link_libc = true,
        });
        // Criterion registers tests in a linker section that nothing references.
        t.link_gc_sections = false;
        try addSubsystemSources(b, t, s.name);
        for (s.deps) |d| try addSubsystemSources(b, t, d);
        try addDirSources(b, t, b.fmt("test/unit/{s}", .{s.name}));
        try addDirSources(b, t, "test/support");
        t.addIncludePath(b.path("test/support"));
        linkDeps(b, t);
        t.linkSystemLibrary("criterion");
        const run = b.addSystemCommand(&.{ "bash", "scripts/run-unit-suite.sh" });
        run.addArtifactArg(t);
        run.setCwd(b.path("."));
        run.addArgs(&.{ "--jobs", "2" });
        run.has_side_effects = true;
        run.step.dependOn(&certs.step);
        const one = b.step(b.fmt("unit-{s}", .{s.name}), b.fmt("Run the {s} unit suite", .{s.name}));
        one.dependOn(&run.step);
        unit_step.dependOn(&run.step);
    }

    // End-to-end: the real binary driven by real peers (openssl, curl, Python).
    const e2e = b.addSystemCommand(&.{ "/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/e2e" });
    e2e.setCwd(b.path("."));
    e2e.setEnvironmentVariable("EDGEGW_BIN", b.getInstallPath(.bin, "edgegw"));
    e2e.step.dependOn(b.getInstallStep());
    e2e.step.dependOn(&certs.step);
    e2e.has_side_effects = true;
    const e2e_step = b.step("e2e", "Run the end-to-end tests against zig-out/bin/edgegw");
    e2e_step.dependOn(&e2e.step);

    const test_step = b.step("test", "Build and run every test (unit, then end-to-end)");
    test_step.dependOn(unit_step);
    test_step.dependOn(e2e_step);
    // Unit failures are cheaper to read first.
    e2e.step.dependOn(unit_step);

    // Fuzzing (test/fuzz/run: clang libFuzzer + ASan/UBSan), briefly, after the e2e suite
    // so that it does not compete with its timing-sensitive tests for the two cores.
    const fuzz_secs = b.option([]const u8, "fuzz-seconds", "Seconds per fuzz target (default 15)") orelse "15";
    const fuzz_step = b.step("fuzz", "Build and run every fuzz target briefly (test/fuzz/run)");
    for ([_]bool{ false, true }) |after_e2e| {
        const fuzz = b.addSystemCommand(&.{ "bash", "test/fuzz/run", "--seconds", fuzz_secs });
        fuzz.setCwd(b.path("."));
        fuzz.has_side_effects = true;
        if (after_e2e) {
            fuzz.step.dependOn(&e2e.step);
            test_step.dependOn(&fuzz.step);
        } else fuzz_step.dependOn(&fuzz.step);
    }

    const demo = b.addSystemCommand(&.{ "bash", "scripts/demo.sh" });
    demo.setCwd(b.path("."));
    demo.setEnvironmentVariable("EDGEGW_BIN", b.getInstallPath(.bin, "edgegw"));
    demo.step.dependOn(b.getInstallStep());
    demo.has_side_effects = true;
    const demo_step = b.step("demo", "Generate the dev PKI if missing, run the demo site and a client against it");
    demo_step.dependOn(&demo.step);

    const bench_issue = b.addSystemCommand(&.{ "bash", "bench/token_issue/run.sh" });
    bench_issue.setCwd(b.path("."));
    bench_issue.has_side_effects = true;
    const bench_issue_step = b.step("bench-token-issue", "Benchmark POST /oauth2/token over kept-alive mTLS against bssl-tool's ES256 sign rate");
    bench_issue_step.dependOn(&bench_issue.step);

    // bench/compare builds its own ReleaseSafe edgegw and edgegw-bench (like run.sh).
    const bench_cmp = b.addSystemCommand(&.{ "python3", "bench/compare" });
    bench_cmp.setCwd(b.path("."));
    if (b.args) |args| bench_cmp.addArgs(args);
    bench_cmp.has_side_effects = true;
    const bench_cmp_step = b.step("bench-compare", "Benchmark edgegw side by side with HAProxy, NGINX and stunnel (bench/compare; pass -- --quick)");
    bench_cmp_step.dependOn(&bench_cmp.step);
}

fn defaultTarget() std.Target.Query {
    if (@import("builtin").cpu.arch != .x86_64) return .{};
    return .{ .cpu_model = .{ .explicit = &std.Target.x86.cpu.x86_64_v3 } };
}

fn linkDeps(b: *std.Build, c: *std.Build.Step.Compile) void {
    c.addIncludePath(b.path("include"));
    c.addIncludePath(b.path("src"));
    // -I, not -isystem: Zig puts the host's /usr/include among the system directories
    // ahead of ours, and there OpenSSL's headers (libssl-dev) would shadow BoringSSL's.
    c.addIncludePath(.{ .cwd_relative = boringssl_include });
    c.addSystemIncludePath(.{ .cwd_relative = llhttp_include });
    // BoringSSL first, by full path: anything later that drags OpenSSL in (criterion,
    // through libgit2) must not win symbol resolution for our SSL_* calls.
    c.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libssl.so" });
    c.addObjectFile(.{ .cwd_relative = boringssl_lib ++ "/libcrypto.so" });
    c.addRPath(.{ .cwd_relative = boringssl_lib });
    c.addCSourceFiles(.{
        .root = .{ .cwd_relative = llhttp_src },
        .files = &.{ "llhttp.c", "api.c", "http.c" },
        .flags = &llhttp_cflags,
    });
    c.linkSystemLibrary("uv");
    c.linkSystemLibrary("jansson");
    c.linkSystemLibrary("jwt-gnutls");
    c.linkSystemLibrary("sqlite3");
    c.linkSystemLibrary("yaml");
}

fn hasCFiles(dir: std.fs.Dir) !bool {
    var it = dir.iterate();
    while (try it.next()) |e| {
        if (e.kind == .file and std.mem.endsWith(u8, e.name, ".c")) return true;
    }
    return false;
}

fn addSubsystemSources(b: *std.Build, c: *std.Build.Step.Compile, sub: []const u8) !void {
    try addDirSources(b, c, b.fmt("src/{s}", .{sub}));
}

/// Adds every .c file under `rel` (recursively), in a stable order.
fn addDirSources(b: *std.Build, c: *std.Build.Step.Compile, rel: []const u8) !void {
    var dir = b.build_root.handle.openDir(rel, .{ .iterate = true }) catch return;
    defer dir.close();
    var walker = try dir.walk(b.allocator);
    defer walker.deinit();
    var files = std.ArrayList([]const u8).init(b.allocator);
    while (try walker.next()) |e| {
        if (e.kind == .file and std.mem.endsWith(u8, e.basename, ".c"))
            try files.append(b.dupe(e.path));
    }
    std.mem.sort([]const u8, files.items, {}, struct {
        fn lt(_: void, x: []const u8, y: []const u8) bool {
            return std.mem.lessThan(u8, x, y);
        }
    }.lt);
    if (files.items.len == 0) return;
    c.addCSourceFiles(.{ .root = b.path(rel), .files = files.items, .flags = &our_cflags });
}
