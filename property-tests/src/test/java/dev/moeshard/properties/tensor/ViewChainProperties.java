package dev.moeshard.properties.tensor;

import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Any chain of views over a tensor agrees, element by element, with the same indexing done naively
 * ({@link PositionModel}). The base tensor holds its own element positions as I32, so reading an element of a view
 * tells which storage element the view reached.
 */
class ViewChainProperties {

    @Test
    void viewChainsAgreeWithNaiveIndexing() {
        PropertyCheck.forAll("view chains", gen -> {
            long[] base = gen.shape(4, 5);
            List<ViewStep> chain = new ArrayList<>();
            for (int n = gen.upTo(0, 10); n > 0; n--) {
                chain.add(ViewStep.random(gen));
            }
            check(base, chain);
        });
    }

    private static void check(long[] base, List<ViewStep> chain) {
        Tensor t = Tensor.allocate(DType.I32, base);
        PositionModel m = PositionModel.contiguous(base);
        for (int i = 0; i < m.positions().length; i++) {
            t.setBits(i, Shape.unravel(i, base));
        }
        List<String> done = new ArrayList<>();
        for (ViewStep step : chain) {
            ViewStep.Applied op = step.readAgainst(m);
            if (op == null) {
                continue;
            }
            done.add(op.name());
            String where = "base " + Arrays.toString(base) + " then " + done;
            if (op.viewMustFail()) {
                Tensor before = t;
                expectIllegalArgument(() -> op.onTensor().apply(before), where);
                continue;
            }
            Tensor next;
            try {
                next = op.onTensor().apply(t);
            } catch (RuntimeException e) {
                throw new AssertionError(where + ": threw " + e, e);
            }
            // The model copies (a new value table) exactly where the tensor must.
            boolean shared = next.storage() == t.storage();
            if (shared == (op.model().valueAt() != m.valueAt())) {
                throw new AssertionError(where + (shared ? ": reshape returned a view where none exists"
                        : ": a view must share its storage"));
            }
            t = next;
            m = op.model();
            assertSame(t, m, where);
        }
    }

    static void assertSame(Tensor t, PositionModel m, String where) {
        if (!Arrays.equals(t.sizes(), m.sizes())) {
            throw new AssertionError(where + ": shape " + Arrays.toString(t.sizes()) + ", expected "
                    + Arrays.toString(m.sizes()));
        }
        for (int i = 0; i < m.positions().length; i++) {
            long[] idx = Shape.unravel(i, m.sizes());
            long got = t.getBits(idx);
            if (got != m.value(i)) {
                throw new AssertionError(where + ": element " + Arrays.toString(idx) + " reads " + got
                        + ", expected " + m.value(i) + " (" + t + ")");
            }
        }
    }

    private static void expectIllegalArgument(Runnable r, String where) {
        try {
            r.run();
        } catch (IllegalArgumentException expected) {
            return;
        }
        throw new AssertionError(where + ": view succeeded although no strides express the result");
    }
}
