using System.Text.Json;
using AutoReview.Sandbox.Diagnostics;

namespace AutoReview.Cli;

/// <summary>`auto-review doctor [--json]`: the isolation posture of this machine (README, "doctor --json").</summary>
internal static class DoctorCommand
{
    public static int Run(DoctorOptions options)
    {
        DoctorReport report = Doctor.Run();
        if (options.Json)
            WriteJson(report);
        else
            WriteText(report);
        return report.Ok ? ExitCodes.Ok : ExitCodes.Findings;
    }

    private static void WriteText(DoctorReport report)
    {
        Console.WriteLine($"kernel {report.Kernel}, uid {report.Uid}");
        foreach (DoctorCheck check in report.Checks)
        {
            string mark = check.Ok ? "ok  " : check.Required ? "FAIL" : "--  ";
            Console.WriteLine($"{mark} {check.Name,-20} {check.Detail}{(check.Errno is null ? "" : $" ({check.Errno})")}");
            if (check.Cause is not null) Console.WriteLine($"     cause: {check.Cause}");
            if (check.Fix is not null) Console.WriteLine($"     fix:   {check.Fix}");
        }
        Console.WriteLine(report.Ok
            ? "isolated mode works on this machine."
            : "isolated mode cannot work here until the failures above are fixed; auto-review will refuse to run unsandboxed.");
    }

    private static void WriteJson(DoctorReport report)
    {
        using var json = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
        HostFacts facts = report.Facts;
        json.WriteStartObject();
        json.WriteBoolean("ok", report.Ok);
        json.WriteString("kernel", report.Kernel);
        json.WriteNumber("uid", report.Uid);
        json.WriteStartArray("checks");
        foreach (DoctorCheck check in report.Checks)
        {
            json.WriteStartObject();
            json.WriteString("name", check.Name);
            json.WriteBoolean("required", check.Required);
            json.WriteBoolean("ok", check.Ok);
            json.WriteString("detail", check.Detail);
            WriteNullable(json, "errno", check.Errno);
            WriteNullable(json, "cause", check.Cause);
            WriteNullable(json, "fix", check.Fix);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartObject("sysctls");
        WriteNullable(json, "user.max_user_namespaces", facts.MaxUserNamespaces);
        WriteNullable(json, "kernel.unprivileged_userns_clone", facts.UnprivilegedUsernsClone);
        WriteNullable(json, "kernel.apparmor_restrict_unprivileged_userns", facts.AppArmorRestrictUnprivilegedUserns);
        json.WriteEndObject();
        WriteNullable(json, "seccompMode", facts.SeccompMode);
        json.WriteBoolean("procMasked", facts.ProcIsMasked);
        json.WriteStartArray("procSubmounts");
        foreach (string mount in facts.ProcSubmounts) json.WriteStringValue(mount);
        json.WriteEndArray();
        WriteNullable(json, "container", facts.ContainerHint);
        json.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null) json.WriteNull(name);
        else json.WriteString(name, value);
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, int? value)
    {
        if (value is null) json.WriteNull(name);
        else json.WriteNumber(name, value.Value);
    }
}
