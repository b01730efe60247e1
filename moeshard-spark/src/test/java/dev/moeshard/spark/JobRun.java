package dev.moeshard.spark;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One run of the job's driver in the tests' session: its exit code, stdout and stderr. */
record JobRun(int code, String out, String err) {

    static JobRun of(UnitTask task, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = SparkConvert.run(LocalSpark::session, task, new PrintWriter(out), new PrintWriter(err), args);
        return new JobRun(code, out.toString(), err.toString());
    }

    static JobRun of(String... args) {
        return of(UnitTask.library(), args);
    }

    @Override
    public String toString() {
        return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
